"""Enqueue index jobs by task name and report their state (the API never imports `workers`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from indexers.storage.versions import atomic_write
from service.core.errors import NotFound, ServiceUnavailable
from service.jobs import JobPayload, JobRecord, JobType, Layout, celery_config
from service.schemas.jobs import JobPublic, JobState, ProgressPublic
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

    def submit(self, job_type: JobType, payload: JobPayload) -> JobPublic:
        """Send the job to the broker, then record it for its tenant.

        Raises:
            ServiceUnavailable: the broker cannot be reached.
        """
        if self.on_submit is not None:
            self.on_submit(job_type)
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
            raise ServiceUnavailable(f"the job broker is unreachable; retry later ({exc})") from exc
        record = JobRecord(
            id=payload.job_id, type=job_type, tenant=payload.tenant, collection=payload.collection
        )
        atomic_write(self.layout.job_file(record.tenant, record.id), record.model_dump_json())
        return self.public(record)

    def record(self, tenant: str, job_id: str) -> JobRecord:
        """The tenant's job record.

        Raises:
            NotFound: the tenant has no job with this id.
        """
        try:
            return JobRecord.model_validate_json(self.layout.job_file(tenant, job_id).read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"job {job_id!r} does not exist") from exc

    def list(self, tenant: str, limit: int, collection: str | None = None) -> list[JobRecord]:
        """The tenant's newest jobs first."""
        folder = self.layout.jobs_dir(tenant)
        if not folder.is_dir():
            return []
        records = [JobRecord.model_validate_json(path.read_text()) for path in folder.glob("*.json")]
        if collection is not None:
            records = [record for record in records if record.collection == collection]
        records.sort(key=lambda record: record.created_at, reverse=True)
        return records[:limit]

    def cancel(self, record: JobRecord) -> JobPublic:
        """Ask for cancellation: a queued job is skipped, a running one stops at its next progress step."""
        self.layout.job_file(record.tenant, record.id, "cancel").touch()
        return self.public(record)

    def _stale(self, record: JobRecord) -> bool:
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
        elif state == "running" and self._stale(record):
            state = "failed"
            error = (
                f"worker lost: no heartbeat for over {self.settings.job_stale_s:.0f}s; the broker "
                "redelivers the job to the next worker (state returns to running if one picks it up)"
            )
        return JobPublic(
            id=record.id,
            type=record.type,
            collection=record.collection,
            state=state,
            progress=progress,
            result=payload,
            error=error,
            cancel_requested=cancel_requested,
            created_at=record.created_at,
            links={"self": f"/v1/jobs/{record.id}"},
        )

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
