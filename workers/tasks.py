"""Index jobs by explicit name: `index.build`, `index.add`, `index.delete`, `index.sync`,
`index.merge`; memory jobs `memory.add_turns` and `memory.consolidate`, and the beat task
`memory.consolidate_due`.

Every index job does the same thing under the collection's write lock: apply the collection's write
log to every kind and commit them together (`workers.sync`), so writes take effect in the order the
API accepted them whichever worker runs which job, and a redelivered, late or repeated job finds
its write applied and does nothing. A job leaving a token kind with more than `merge_segments` store
segments merges them after its commit; `index.merge` merges on demand every kind in several segments
or holding deleted documents, under the same lock. Progress goes to the Celery task state as
`{"done": n, "total": m}`; a heartbeat file tells the API the worker is alive; a cancel flag written
by the API is honoured between progress steps.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from types import TracebackType
from typing import Any

from celery import Task
from celery.exceptions import Ignore

from indexers.errors import IndexNotFound
from indexers.memory import AgentMemory
from indexers.models.llm import load_llm
from service.core.queue import JobQueue, new_job_id
from service.jobs import (
    TASK_ADD,
    TASK_BUILD,
    TASK_DELETE,
    TASK_MEMORY_ADD,
    TASK_MEMORY_CONSOLIDATE,
    TASK_MEMORY_SCHEDULE,
    TASK_SYNC,
    CollectionSpec,
    IndexJob,
    JobPayload,
    Layout,
    MemoryJob,
    WorkerInfo,
    collection_lock,
    memory_store,
)
from service.settings import get_settings
from workers.celery_app import app
from workers.sync import merge_collection, sync_collection

__all__ = [
    "CANCELLED",
    "JobCancelled",
    "JobRun",
    "add_documents",
    "add_memory_turns",
    "build_collection",
    "consolidate_due_memories",
    "consolidate_memory",
    "delete_documents",
    "merge_index",
    "queue_due_consolidations",
    "run_job",
    "run_tracked",
    "sync_index",
]

logger = logging.getLogger(__name__)

CANCELLED = "CANCELLED"
TASK_MERGE = "index.merge"
TRANSIENT_ERRORS = (OSError,)
PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
RETRY = {
    "bind": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "dont_autoretry_for": PERMANENT_OS_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": get_settings().task_max_retries,
}


class JobCancelled(Exception):
    """The API asked for this job to be cancelled."""


class JobRun:
    """Progress, heartbeat and cancellation for one running job (a context manager)."""

    def __init__(self, task: Task, job: JobPayload, layout: Layout, heartbeat_s: float) -> None:
        self.task = task
        self.job = job
        self.layout = layout
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._last_update = 0.0

    def __enter__(self) -> JobRun:
        self.check_cancelled()
        worker = WorkerInfo(hostname=self.task.request.hostname or socket.gethostname(), pid=os.getpid())
        self.layout.job_started(self.job.tenant, self.job.job_id, worker)
        self.layout.heartbeat(self.job.tenant, self.job.job_id)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.layout.heartbeat(self.job.tenant, self.job.job_id)

    def check_cancelled(self) -> None:
        if self.layout.cancel_requested(self.job.tenant, self.job.job_id):
            raise JobCancelled(self.job.job_id)

    def progress(self, done: int, total: int, *, force: bool = False) -> None:
        """Report progress (throttled to twice a second) and honour a pending cancellation."""
        self.check_cancelled()
        now = time.monotonic()
        if not force and now - self._last_update < 0.5:
            return
        self._last_update = now
        self.task.update_state(task_id=self.job.job_id, state="PROGRESS", meta={"done": done, "total": total})


Apply = Callable[[CollectionSpec, JobRun], dict[str, Any]]


def run_tracked(task: Task, job: JobPayload, apply: Callable[[JobRun], dict[str, Any]]) -> dict[str, Any]:
    """Run `apply` with heartbeat, progress and cancellation (a cancelled job ends as CANCELLED); the
    job's record notes when it started and ended and which worker ran it."""
    settings = get_settings()
    layout = Layout(settings.data_dir)
    try:
        with JobRun(task, job, layout, settings.heartbeat_s) as run:
            return apply(run)
    except JobCancelled:
        logger.info("job %s cancelled", job.job_id)
        task.update_state(task_id=job.job_id, state=CANCELLED, meta={"cancelled": True})
        raise Ignore() from None
    finally:
        layout.job_finished(job.tenant, job.job_id)


def run_job(task: Task, job: JobPayload, apply: Apply) -> dict[str, Any]:
    """Run `apply` under the collection lock, with progress and cancellation; returns a small result.

    Raises:
        IndexNotFound: the collection was deleted before the job ran.
    """
    layout = Layout(get_settings().data_dir)

    def locked(run: JobRun) -> dict[str, Any]:
        with collection_lock(layout.lock_file(job.tenant, job.collection)):
            spec = layout.read_spec(job.tenant, job.collection)
            uid = job.collection_uid if isinstance(job, IndexJob) else None
            if spec is None or not spec.took(uid):
                raise IndexNotFound(f"collection {job.collection!r} was deleted after this job was accepted")
            return apply(spec, run)

    return {"collection": job.collection, **run_tracked(task, job, locked)}


def _sync(spec: CollectionSpec, run: JobRun) -> dict[str, Any]:
    settings = get_settings()
    layout = Layout(settings.data_dir)
    return sync_collection(
        spec,
        layout.index_root(spec.tenant, spec.name),
        layout.write_log(spec.tenant, spec.name),
        keep=settings.keep_versions,
        cancelled=lambda job_id: layout.cancel_requested(spec.tenant, job_id),
        progress=run.progress,
        check=run.check_cancelled,
        cache_bytes=settings.encoding_cache_mb * 2**20,
        merge_segments=settings.merge_segments,
        job_seq=run.job.seq if isinstance(run.job, IndexJob) else None,
    )


def _merge(spec: CollectionSpec, run: JobRun) -> dict[str, Any]:
    settings = get_settings()
    root = Layout(settings.data_dir).index_root(spec.tenant, spec.name)
    return merge_collection(spec, root, keep=settings.keep_versions, deleted=True, check=run.check_cancelled)


def _index_job(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return run_job(task, IndexJob.model_validate(payload), _sync)


@app.task(name=TASK_BUILD, **RETRY)  # type: ignore[untyped-decorator]
def build_collection(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply the collection's write log up to a rebuild of every kind from a snapshot of its documents."""
    return _index_job(self, payload)


@app.task(name=TASK_ADD, **RETRY)  # type: ignore[untyped-decorator]
def add_documents(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply the collection's write log up to an accepted batch of documents."""
    return _index_job(self, payload)


@app.task(name=TASK_DELETE, **RETRY)  # type: ignore[untyped-decorator]
def delete_documents(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply the collection's write log up to an accepted deletion."""
    return _index_job(self, payload)


@app.task(name=TASK_SYNC, **RETRY)  # type: ignore[untyped-decorator]
def sync_index(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply whatever the collection's write log holds (enqueued by recovery when jobs were lost)."""
    return _index_job(self, payload)


@app.task(name=TASK_MERGE, **RETRY)  # type: ignore[untyped-decorator]
def merge_index(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Merge the store segments of every token kind of the collection that has several, or holds
    deleted documents, into one without them; the applied sequence number stays as it is."""
    return run_job(self, IndexJob.model_validate(payload), _merge)


def _agent_memory(job: MemoryJob) -> AgentMemory:
    settings = get_settings()
    return AgentMemory(
        memory_store(settings, job.tenant, job.agent), load_llm(settings.llm_config), settings.memory
    )


@app.task(name=TASK_MEMORY_ADD, **RETRY)  # type: ignore[untyped-decorator]
def add_memory_turns(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Extract memory units from an agent's pending turns; consolidate when enough units arrived."""
    job = MemoryJob.model_validate(payload)

    def apply(run: JobRun) -> dict[str, Any]:
        memory = _agent_memory(job)
        report = memory.process_pending(progress=run.progress)
        result: dict[str, Any] = {"agent": job.agent, "write": asdict(report)}
        if report.consolidation_due:
            result["consolidation"] = asdict(memory.consolidate(progress=run.progress))
        return result

    return run_tracked(self, job, apply)


@app.task(name=TASK_MEMORY_CONSOLIDATE, **RETRY)  # type: ignore[untyped-decorator]
def consolidate_memory(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Consolidate an agent's memory (group, abstract, retire duplicates)."""
    job = MemoryJob.model_validate(payload)

    def apply(run: JobRun) -> dict[str, Any]:
        report = _agent_memory(job).consolidate(progress=run.progress)
        return {"agent": job.agent, "consolidation": asdict(report)}

    return run_tracked(self, job, apply)


def queue_due_consolidations(queue: JobQueue) -> list[str]:
    """Queue a `memory.consolidate` job for every agent with units written since its last
    consolidation and no consolidation queued or running; returns the new job ids."""
    settings = queue.settings
    submitted = []
    for tenant, agent in Layout(settings.data_dir).agents():
        if memory_store(settings, tenant, agent).units_since_consolidation() == 0:
            continue
        collection = f"memory:{agent}"
        busy = any(
            record.type == TASK_MEMORY_CONSOLIDATE and queue.public(record).state in ("queued", "running")
            for record in queue.list(tenant, limit=10_000, collection=collection)
        )
        if not busy:
            job = MemoryJob(job_id=new_job_id(), tenant=tenant, collection=collection, agent=agent)
            submitted.append(queue.submit(TASK_MEMORY_CONSOLIDATE, job).id)
    return submitted


@app.task(name=TASK_MEMORY_SCHEDULE)  # type: ignore[untyped-decorator]
def consolidate_due_memories() -> dict[str, Any]:
    """Beat task (every `memory_consolidate_every_s`): queue consolidations of agents with new units."""
    settings = get_settings()
    queue = JobQueue(settings, Layout(settings.data_dir))
    try:
        jobs = queue_due_consolidations(queue)
    finally:
        queue.close()
    logger.info("scheduled consolidation: %d jobs queued", len(jobs))
    return {"jobs": jobs}
