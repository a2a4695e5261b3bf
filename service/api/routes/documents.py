"""Documents: add or upsert in batches (JSON or JSONL), get by id, delete by ids or filter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from indexers.base import Doc
from indexers.corpus import doc_from_record, iter_json_lines
from indexers.errors import InvalidInput
from service.api.deps import CollectionName, ServicesDep, TenantDep
from service.core import documents
from service.schemas.common import ERRORS
from service.schemas.documents import DocumentPublic, DocumentsCreate, DocumentsDeleteRequest, UploadParams
from service.schemas.jobs import JobPublic

__all__ = ["add", "add_jsonl", "delete", "get", "router"]

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"], responses=ERRORS)


@router.post("", status_code=202)
def add(name: CollectionName, body: DocumentsCreate, tenant: TenantDep, services: ServicesDep) -> JobPublic:
    """Add or upsert a batch of documents; indexing runs as a job."""
    docs = [Doc(id=d.id, text=d.text, title=d.title, metadata=d.metadata) for d in body.documents]
    return documents.ingest(services, tenant, name, docs, body.mode)


@router.post("/jsonl", status_code=202)
def add_jsonl(
    name: CollectionName,
    body: Annotated[
        bytes, Body(media_type="application/x-ndjson", min_length=1, description="one document per line")
    ],
    query: Annotated[UploadParams, Query()],
    tenant: TenantDep,
    services: ServicesDep,
) -> JobPublic:
    """Add or upsert documents uploaded as JSONL (`_id` or `id`, `text`, `title`, `metadata`)."""
    services.catalog.get(tenant, name)  # an unknown collection is a 404 before the body is parsed
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the body is not UTF-8 (byte {exc.start})") from exc
    docs = [doc_from_record(record, where) for where, record in iter_json_lines(text.splitlines())]
    return documents.ingest(services, tenant, name, docs, query.mode)


@router.get("/{doc_id:path}")
def get(
    name: CollectionName,
    doc_id: Annotated[str, Path(min_length=1, max_length=512)],
    tenant: TenantDep,
    services: ServicesDep,
) -> DocumentPublic:
    """One stored document."""
    found = documents.get(services, tenant, name, doc_id)
    return DocumentPublic(id=found.id, text=found.text, title=found.title, metadata=found.metadata)


@router.post("/delete", status_code=202)
def delete(
    name: CollectionName, body: DocumentsDeleteRequest, tenant: TenantDep, services: ServicesDep
) -> JobPublic:
    """Delete documents by ids or by a metadata filter. They leave search results at once; the job
    removes them from every index."""
    return documents.delete(services, tenant, name, body.filter if body.ids is None else body.ids)
