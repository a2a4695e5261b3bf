"""Document ingestion shared by the JSON and JSONL routes and by rebuilds: validate, stage, store, enqueue."""

from __future__ import annotations

import json
from collections.abc import Sequence

from indexers.base import Doc, validate_docs
from indexers.errors import InvalidInput
from indexers.storage.versions import atomic_write
from service.api.deps import Services
from service.core.errors import Conflict, PayloadTooLarge
from service.core.queue import new_job_id
from service.jobs import TASK_ADD, AddJob
from service.schemas.all import JobPublic

__all__ = ["ingest", "stage"]


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


def ingest(services: Services, tenant: str, name: str, docs: list[Doc], mode: str) -> JobPublic:
    """Validate a batch, store it, and enqueue the job that indexes it."""
    spec = services.catalog.get(tenant, name)
    if not docs:
        raise InvalidInput("the batch has no documents")
    if len(docs) > services.settings.max_batch_docs:
        raise PayloadTooLarge(
            f"the batch has {len(docs)} documents; "
            f"the limit is {services.settings.max_batch_docs} per request"
        )
    validate_docs(docs)
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
    services.metrics.jobs.labels(TASK_ADD).inc()
    return services.queue.submit(
        TASK_ADD, AddJob(job_id=job_id, tenant=tenant, collection=spec.name, staging=staging)
    )
