"""Enqueue jobs by task name and report their state (the API never imports `workers`).

An index job's state follows from its collection's write log where Celery's does not know better: the
job has succeeded once the indexes hold its write, whoever applied it (a redelivery, a later job, a
sync job after a crash)."""

from __future__ import annotations

import builtins
import itertools
import logging
import time
import uuid
from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from indexers.storage.versions import read_manifest
from service.core.errors import Conflict, NotFound, ServiceUnavailable
from service.jobs import TASK_BUILD, IndexJob, JobPayload, JobRecord, JobType, Layout, celery_config
from service.schemas.jobs import TERMINAL_STATES, JobPublic, JobState, ProgressPublic, WorkerPublic
from service.settings import Settings

__all__ = ["JobQueue", "new_job_id"]

logger = logging.getLogger(__name__)

CELERY_STATES: dict[str, JobState] = {
    "PENDING": "queued",
    "RECEIVED": "queued",
    "RETRY": "queued",
    "STARTED": "running",
    "PROGRESS": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "cancelled",
    "CANCELLED": "cancelled",
}


def new_job_id() -> str:
    return str(uuid.uuid4())


class JobQueue:
    """Submits jobs through a Celery client app and turns Celery state into `JobPublic`.

    `on_submit`, if given, is called with the task name of every job about to be sent.
    """

    def __init__(
        self, settings: Settings, layout: Layout, on_submit: Callable[[JobType], None] | None = None
    ) -> None:
        self.settings = settings
        self.layout = layout
        self.on_submit = on_submit
        self.celery = Celery("tessera-api")
        self.celery.conf.update(celery_config(settings))

    def close(self) -> None:
        self.celery.close()

    def submit(self, job_type: JobType, payload: JobPayload, *, accepted: bool = False) -> JobPublic:
        """Record the job for its tenant, then send it to the broker (so the record exists before a
        worker can note that it started).

        Args:
            job_type: the task name.
            payload: the task's arguments.
            accepted: the job's work is already durable (an index job's write is in the write log):
                if the broker cannot be reached the job stays recorded as queued, and recovery
                enqueues a sync job later; otherwise its record is removed and the call fails.

        Raises:
            ServiceUnavailable: the broker cannot be reached and the work was not `accepted`.
        """
        if self.on_submit is not None:
            self.on_submit(job_type)
        record = JobRecord(
            id=payload.job_id,
            type=job_type,
            tenant=payload.tenant,
            collection=payload.collection,
            seq=payload.seq if isinstance(payload, IndexJob) else None,
            collection_uid=payload.collection_uid if isinstance(payload, IndexJob) else None,
        )
        self.layout.write_record(record)
        try:
            self.celery.send_task(
                job_type,
                kwargs={"payload": payload.model_dump(mode="json")},
                task_id=payload.job_id,
                queue=self.settings.task_queue,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except (OperationalError, OSError) as exc:
            logger.error("cannot enqueue %s: %s", job_type, exc)
            if not accepted:
                self.layout.job_file(record.tenant, record.id).unlink(missing_ok=True)
                raise ServiceUnavailable(f"the job broker is unreachable; retry later ({exc})") from exc
        return self.public(self.layout.read_record(record.tenant, record.id) or record)

    def record(self, tenant: str, job_id: str) -> JobRecord:
        """The tenant's job record.

        Raises:
            NotFound: the tenant has no job with this id.
        """
        record = self.layout.read_record(tenant, job_id)
        if record is None:
            raise NotFound(f"job {job_id!r} does not exist")
        return record

    def list(self, tenant: str, limit: int | None = None, collection: str | None = None) -> list[JobRecord]:
        """The tenant's newest jobs first (all of them without `limit`)."""
        folder = self.layout.jobs_dir(tenant)
        if not folder.is_dir():
            return []
        records = [JobRecord.model_validate_json(path.read_text()) for path in folder.glob("*.json")]
        if collection is not None:
            records = [record for record in records if record.collection == collection]
        records.sort(key=lambda record: record.created_at, reverse=True)
        return records[:limit]

    def jobs(
        self, tenant: str, limit: int, collection: str | None = None, state: JobState | None = None
    ) -> builtins.list[JobPublic]:
        """The tenant's newest jobs first, as the API shows them, only those in `state` if given."""
        shown = (self.public(record) for record in self.list(tenant, collection=collection))
        return list(itertools.islice((job for job in shown if state is None or job.state == state), limit))

    def cancel(self, record: JobRecord) -> JobPublic:
        """Ask for cancellation: a queued job is skipped, a running one stops at its next progress step.

        Raises:
            Conflict: the job applies an accepted add or delete (writes are applied in order, none
                skipped; delete the documents, or add them back, instead).
        """
        if record.seq is not None and record.type != TASK_BUILD:
            raise Conflict(
                f"job {record.id!r} applies an accepted {record.type} and cannot be cancelled; "
                "accepted writes are applied in order (write again to undo it)"
            )
        self.layout.job_file(record.tenant, record.id, "cancel").touch()
        return self.public(record)

    def applied(self, tenant: str, collection: str) -> int:
        """The last write of the collection that every index kind holds (0: none)."""
        manifest = read_manifest(self.layout.index_root(tenant, collection))
        return 0 if manifest is None else manifest.seq

    def stale(self, record: JobRecord) -> bool:
        """Whether the job's worker has sent no heartbeat (or none since the job was made) for
        `job_stale_s`."""
        beat = self.layout.job_file(record.tenant, record.id, "heartbeat")
        try:
            last = beat.stat().st_mtime
        except FileNotFoundError:
            last = record.created_at.timestamp()
        return time.time() - last > self.settings.job_stale_s

    def public(self, record: JobRecord) -> JobPublic:
        """The job as the API shows it."""
        result = AsyncResult(record.id, app=self.celery)
        celery_state = result.state
        state = CELERY_STATES.get(celery_state, "running")
        info = result.info
        progress = None
        error = None
        payload = None
        cancel_requested = self.layout.cancel_requested(record.tenant, record.id)
        if isinstance(info, dict) and {"done", "total"} <= info.keys():
            progress = ProgressPublic(done=int(info["done"]), total=int(info["total"]))
        if state == "succeeded" and isinstance(info, dict):
            payload = info
        elif state == "failed":
            error = f"{type(info).__name__}: {info}" if isinstance(info, BaseException) else str(info)
        elif state == "queued" and cancel_requested:
            state = "cancelled"
        pending_seq = record.seq if state in ("queued", "running") else None
        if pending_seq is not None and not self.layout.same_collection(record):
            state = "failed"
            error = f"collection {record.collection!r} was deleted after this job was accepted"
        elif pending_seq is not None and pending_seq <= self.applied(record.tenant, record.collection):
            state, error = "succeeded", None  # another run of the write log applied this job's write
            payload = {"collection": record.collection, "seq": record.seq, "applied_by_another_job": True}
        elif state == "running" and self.stale(record):
            state = "stalled"
            error = (
                f"worker lost: no heartbeat for over {self.settings.job_stale_s:.0f}s; the job's "
                "work is redelivered (or, for an index job, applied by a sync job)"
            )
        return JobPublic(
            id=record.id,
            type=record.type,
            collection=record.collection,
            seq=record.seq,
            state=state,
            progress=progress,
            result=payload,
            error=error,
            cancel_requested=cancel_requested,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at if state in TERMINAL_STATES else None,
            worker=None if record.worker is None else WorkerPublic(**record.worker.model_dump()),
            links={"self": f"/v1/jobs/{record.id}"},
        )

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
