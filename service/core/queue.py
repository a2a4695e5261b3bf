"""Enqueue index jobs by task name, report their state (the API never imports `workers`), and sweep
the staging files of jobs that ended."""

from __future__ import annotations

import builtins
import logging
import time
import uuid
from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from service.core.errors import NotFound, ServiceUnavailable
from service.jobs import JobPayload, JobRecord, JobType, Layout, celery_config
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

    def submit(self, job_type: JobType, payload: JobPayload) -> JobPublic:
        """Record the job for its tenant, then send it to the broker (so the record exists before a
        worker can note that it started; it is removed again if the broker cannot be reached).

        Raises:
            ServiceUnavailable: the broker cannot be reached.
        """
        if self.on_submit is not None:
            self.on_submit(job_type)
        record = JobRecord(
            id=payload.job_id, type=job_type, tenant=payload.tenant, collection=payload.collection
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
        matching = [job for job in shown if state is None or job.state == state]
        return matching[:limit]

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
            started_at=record.started_at,
            finished_at=record.finished_at if state in TERMINAL_STATES else None,
            worker=None if record.worker is None else WorkerPublic(**record.worker.model_dump()),
            links={"self": f"/v1/jobs/{record.id}"},
        )

    def ended(self, record: JobRecord) -> bool:
        """Whether the broker's result backend holds a final state for the job (a job reported failed
        only because its worker went silent has not ended: the broker may redeliver it)."""
        state = AsyncResult(record.id, app=self.celery).state
        return CELERY_STATES.get(state, "running") in TERMINAL_STATES

    def sweep_staging(self, max_age_s: float) -> builtins.list[str]:
        """Remove staging files (and temporary files of interrupted writes) older than `max_age_s`
        whose job has ended or has no record; returns the names removed."""
        folder = self.layout.staging_dir()
        removed = []
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # its job ended meanwhile and removed it
            if age <= max_age_s:
                continue
            record = self.layout.find_record(path.name.lstrip(".").split(".")[0])
            if record is None or self.ended(record):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
