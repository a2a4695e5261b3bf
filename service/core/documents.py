"""Document writes and reads of a collection: add a batch, read one, delete by ids or filter, rebuild.

A write is accepted once it is in the collection's write log (`service.writelog`): appended whole
under the log's lock, then applied to the document store at once, then handed to a worker by a job
that brings every index kind in line. A write the store or the indexes missed because a process
died is applied later from the log (`service.core.recovery`), so an acknowledged write is never lost
and writes take effect in the order they were accepted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

from indexers.base import Doc, validate_docs
from indexers.errors import DocumentNotFound, InvalidInput
from service.core.docstore import StoredDoc
from service.core.errors import Conflict, PayloadTooLarge
from service.core.filters import to_qdrant
from service.core.queue import new_job_id
from service.core.services import Services
from service.jobs import TASK_ADD, TASK_BUILD, TASK_DELETE, CollectionSpec, IndexJob, JobType
from service.schemas.filters import Filter
from service.schemas.jobs import JobPublic
from service.writelog import Entry, WriteLog, doc_line

__all__ = ["apply_to_store", "delete", "get", "ingest", "rebuild", "submit_index_job"]


def apply_to_store(services: Services, tenant: str, name: str, log: WriteLog) -> int:
    """Apply the log's entries that the document store lacks, in order (hold `log.appending()`).
    Returns how many were applied."""
    pending = log.entries(after=log.stored())
    for entry in pending:
        if entry.op == "add":
            services.docs.upsert(tenant, name, list(log.documents(entry)))
        elif entry.op == "delete":
            services.docs.delete(tenant, name, log.ids(entry))
        log.mark_stored(entry.seq)  # a build's snapshot came from the store: nothing to apply
    return len(pending)


def submit_index_job(services: Services, job_type: JobType, spec: CollectionSpec, entry: Entry) -> JobPublic:
    """Enqueue the job that indexes an accepted write (accepted even if the broker is down: the
    write is in the log, and recovery enqueues a sync job once the broker is back). Called with
    `log.appending()` held, so recovery never sees the entry without its job and syncs it first."""
    job = IndexJob(
        job_id=entry.job_id, tenant=spec.tenant, collection=spec.name, seq=entry.seq, collection_uid=spec.uid
    )
    return services.queue.submit(job_type, job, accepted=True)


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
        Conflict: `mode` is "add" and some ids exist with other content.
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
    log = services.layout.write_log(tenant, spec.name)
    with log.appending():
        apply_to_store(services, tenant, spec.name, log)
        if mode == "add":
            _check_new(services, tenant, spec.name, docs)
        entry = log.append("add", new_job_id(), map(doc_line, docs))
        apply_to_store(services, tenant, spec.name, log)
        return submit_index_job(services, TASK_ADD, spec, entry)


def _same(stored: StoredDoc, doc: Doc) -> bool:
    return (stored.text, stored.title, stored.metadata) == (doc.text, doc.title, doc.metadata)


def _check_new(services: Services, tenant: str, name: str, docs: Sequence[Doc]) -> None:
    """Refuse to add documents whose ids exist with other content (an identical copy is a retry of
    the same request, accepted again so that retrying is safe).

    Raises:
        Conflict: some ids exist with other content.
    """
    existing = services.docs.get(tenant, name, [doc.id for doc in docs])
    differing = [doc.id for doc in docs if doc.id in existing and not _same(existing[doc.id], doc)]
    if differing:
        raise Conflict(
            f"{len(differing)} documents already exist with other content (e.g. {differing[0]!r}); "
            "use mode=upsert to replace them"
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
    log = services.layout.write_log(tenant, spec.name)
    with log.appending():
        apply_to_store(services, tenant, spec.name, log)
        if isinstance(selector, Filter):
            flt = to_qdrant(selector)
            doomed = [doc.id for doc in services.docs.scan(tenant, spec.name, flt, with_payload=False)]
        else:
            doomed = list(dict.fromkeys(selector))
        entry = log.append("delete", new_job_id(), (json.dumps(doc_id) for doc_id in doomed))
        apply_to_store(services, tenant, spec.name, log)
        return submit_index_job(services, TASK_DELETE, spec, entry)


def rebuild(services: Services, tenant: str, name: str) -> JobPublic:
    """Enqueue a rebuild of every kind from the documents in the store (a snapshot taken in write order).

    Raises:
        IndexNotFound: no such collection.
        InvalidInput: the collection has no documents.
    """
    spec = services.catalog.get(tenant, name)
    log = services.layout.write_log(tenant, spec.name)
    with log.appending():
        apply_to_store(services, tenant, spec.name, log)
        docs = [doc.to_doc() for doc in services.docs.scan(tenant, spec.name)]
        if not docs:
            raise InvalidInput(f"collection {name!r} has no documents to build from")
        entry = log.append("build", new_job_id(), map(doc_line, docs))
        log.mark_stored(entry.seq)
        return submit_index_job(services, TASK_BUILD, spec, entry)
