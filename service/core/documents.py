"""Document writes and reads of a collection: add a batch, read one, delete by ids or filter, rebuild.

Writes change the document store at once and enqueue the job that brings every index kind in line;
documents reach the worker through a JSONL staging file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

from indexers.base import Doc, validate_docs
from indexers.errors import DocumentNotFound, InvalidInput
from indexers.storage.versions import atomic_write
from service.core.docstore import StoredDoc
from service.core.errors import Conflict, PayloadTooLarge
from service.core.filters import to_qdrant
from service.core.queue import new_job_id
from service.core.services import Services
from service.jobs import TASK_ADD, TASK_BUILD, TASK_DELETE, AddJob, BuildJob, DeleteJob
from service.schemas.filters import Filter
from service.schemas.jobs import JobPublic

__all__ = ["delete", "get", "ingest", "rebuild", "stage"]


def stage(services: Services, job_id: str, docs: Sequence[Doc]) -> str:
    """Write `docs` as a JSONL staging file for a worker; returns its name under data_dir/staging."""
    name = f"{job_id}.jsonl"
    lines = (
        json.dumps(
            {"_id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata}, ensure_ascii=False
        )
        for d in docs
    )
    atomic_write(services.layout.staging_file(name), "\n".join(lines) + "\n")
    return name


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite number in a JSON value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((found for key, item in items if (found := _non_finite(item, f"{path}.{key}"))), None)


def _check_metadata(docs: Sequence[Doc]) -> None:
    """Reject metadata that JSON cannot carry: NaN and infinite numbers (they would be stored as null).

    Raises:
        InvalidInput: a document's metadata holds NaN or an infinity (the document and key are named).
    """
    for doc in docs:
        found = _non_finite(doc.metadata, "metadata")
        if found is not None:
            raise InvalidInput(
                f"document {doc.id!r}: {found} is not a finite number (NaN and Infinity are not JSON)"
            )


def ingest(
    services: Services, tenant: str, name: str, docs: list[Doc], mode: Literal["upsert", "add"]
) -> JobPublic:
    """Validate a batch, store it, and enqueue the job that indexes it.

    Raises:
        IndexNotFound: no such collection.
        InvalidInput: the batch is empty or a document is invalid (metadata with NaN or Infinity too).
        PayloadTooLarge: the batch is over `max_batch_docs`.
        Conflict: `mode` is "add" and some ids already exist.
    """
    spec = services.catalog.get(tenant, name)
    if not docs:
        raise InvalidInput("the batch has no documents")
    if len(docs) > services.settings.max_batch_docs:
        raise PayloadTooLarge(
            f"the batch has {len(docs)} documents; "
            f"the limit is {services.settings.max_batch_docs} per request"
        )
    validate_docs(docs)
    _check_metadata(docs)
    if mode == "add":
        existing = services.docs.get(tenant, spec.name, [doc.id for doc in docs])
        if existing:
            raise Conflict(
                f"{len(existing)} documents already exist (e.g. {next(iter(existing))!r}); "
                "use mode=upsert to replace them"
            )
    job_id = new_job_id()
    staging = stage(services, job_id, docs)
    services.docs.upsert(tenant, spec.name, docs)
    return services.queue.submit(
        TASK_ADD, AddJob(job_id=job_id, tenant=tenant, collection=spec.name, staging=staging)
    )


def get(services: Services, tenant: str, name: str, doc_id: str) -> StoredDoc:
    """One stored document.

    Raises:
        IndexNotFound: no such collection.
        DocumentNotFound: the collection has no document `doc_id`.
    """
    spec = services.catalog.get(tenant, name)
    found = services.docs.get(tenant, spec.name, [doc_id]).get(doc_id)
    if found is None:
        raise DocumentNotFound(f"document {doc_id!r} does not exist in {name!r}")
    return found


def delete(services: Services, tenant: str, name: str, selector: Sequence[str] | Filter) -> JobPublic:
    """Delete the documents of `selector` (their ids, or a filter they match) from the store at once,
    so they leave search results, and enqueue the job that removes them from every index.

    Raises:
        IndexNotFound: no such collection.
    """
    spec = services.catalog.get(tenant, name)
    if isinstance(selector, Filter):
        flt = to_qdrant(selector)
        doomed = [doc.id for doc in services.docs.scan(tenant, spec.name, flt, with_payload=False)]
    else:
        doomed = list(dict.fromkeys(selector))
    services.docs.delete(tenant, spec.name, doomed)
    return services.queue.submit(
        TASK_DELETE, DeleteJob(job_id=new_job_id(), tenant=tenant, collection=spec.name, ids=doomed)
    )


def rebuild(services: Services, tenant: str, name: str) -> JobPublic:
    """Enqueue a rebuild of every kind from the documents in the store (a new version per kind).

    Raises:
        IndexNotFound: no such collection.
        InvalidInput: the collection has no documents.
    """
    spec = services.catalog.get(tenant, name)
    docs = [doc.to_doc() for doc in services.docs.scan(tenant, spec.name)]
    if not docs:
        raise InvalidInput(f"collection {name!r} has no documents to build from")
    job_id = new_job_id()
    payload = BuildJob(
        job_id=job_id, tenant=tenant, collection=spec.name, staging=stage(services, job_id, docs)
    )
    return services.queue.submit(TASK_BUILD, payload)
