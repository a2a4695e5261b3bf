"""Index jobs by explicit name: `index.build`, `index.add`, `index.delete`; memory jobs
`memory.add_turns` and `memory.consolidate`, and the beat tasks `memory.consolidate_due` and
`jobs.sweep_staging`.

Each task validates its payload (`service.jobs`), takes the collection's write lock, calls the
library and commits a new version per kind (`indexers.storage.versions.commit`: build a new folder, swap
CURRENT last), so a redelivered or crashed job never leaves a half-built index serving. Progress
goes to the Celery task state as `{"done": n, "total": m}`; a heartbeat file tells the API the
worker is alive; a cancel flag written by the API is honoured between progress steps.
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

from indexers.base import Doc, Index
from indexers.corpus import read_corpus
from indexers.errors import IndexNotFound
from indexers.memory import AgentMemory
from indexers.models.llm import load_llm
from indexers.registry import create_index
from indexers.storage.versions import commit, open_current
from service.core.queue import JobQueue, new_job_id
from service.jobs import (
    TASK_ADD,
    TASK_BUILD,
    TASK_DELETE,
    TASK_MEMORY_ADD,
    TASK_MEMORY_CONSOLIDATE,
    TASK_MEMORY_SCHEDULE,
    TASK_SWEEP_STAGING,
    AddJob,
    BuildJob,
    CollectionSpec,
    DeleteJob,
    JobPayload,
    Layout,
    MemoryJob,
    WorkerInfo,
    collection_lock,
    memory_store,
)
from service.settings import get_settings
from workers.celery_app import app

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
    "queue_due_consolidations",
    "run_job",
    "run_tracked",
    "sweep_staging",
]

logger = logging.getLogger(__name__)

CANCELLED = "CANCELLED"
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
            if spec is None:
                raise IndexNotFound(f"collection {job.collection!r} no longer exists")
            return apply(spec, run)

    return {"collection": job.collection, **run_tracked(task, job, locked)}


def _staged(job: BuildJob | AddJob) -> list[Doc]:
    return list(read_corpus(Layout(get_settings().data_dir).staging_file(job.staging)))


def _retried(task: Task, exc: BaseException) -> bool:
    """Whether Celery will run the task again after `exc` (the RETRY options' rule)."""
    transient = isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, PERMANENT_OS_ERRORS)
    return transient and task.request.retries < task.max_retries


def _run_staged(task: Task, job: BuildJob | AddJob, rebuild: bool) -> dict[str, Any]:
    """Build from (or add) the job's staged documents; the staging file goes once the job has ended
    (succeeded, failed for good, or cancelled) and stays for a retry or a redelivery."""
    try:
        result = run_job(task, job, lambda spec, run: _write_all(spec, run, _staged(job), rebuild=rebuild))
    except Exception as exc:
        if not _retried(task, exc):
            _discard_staging(job)
        raise
    _discard_staging(job)
    return result


def _discard_staging(job: BuildJob | AddJob) -> None:
    Layout(get_settings().data_dir).staging_file(job.staging).unlink(missing_ok=True)


def _commit(index: Index, layout: Layout, spec: CollectionSpec) -> str:
    root = layout.index_root(spec.tenant, spec.name)
    return commit(index, root, index.kind, keep=get_settings().keep_versions)


def _write_all(spec: CollectionSpec, run: JobRun, docs: list[Doc], rebuild: bool) -> dict[str, Any]:
    """Build (or add `docs` to) every kind of `spec`, committing one new version per kind."""
    layout = Layout(get_settings().data_dir)
    total = len(docs) * len(spec.configs)
    versions: dict[str, str] = {}
    num_docs: dict[str, int] = {}
    for position, config in enumerate(spec.configs):
        offset = position * len(docs)

        def report(done: int, _total: int, offset: int = offset) -> None:
            run.progress(offset + min(done, len(docs)), total)

        index: Index | None = None
        if not rebuild:
            try:
                index = open_current(layout.index_root(spec.tenant, spec.name), config.kind)
            except IndexNotFound:
                index = None
        if index is None:
            index = create_index(config)
            index.build(docs, progress=report)
        else:
            index.add(docs, progress=report)
        run.check_cancelled()
        versions[config.kind] = _commit(index, layout, spec)
        num_docs[config.kind] = index.num_docs
        run.progress(offset + len(docs), total, force=True)
    return {"documents": len(docs), "versions": versions, "num_docs": num_docs}


@app.task(name=TASK_BUILD, **RETRY)  # type: ignore[untyped-decorator]
def build_collection(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Rebuild every kind of a collection from a staged snapshot of its documents."""
    return _run_staged(self, BuildJob.model_validate(payload), rebuild=True)


@app.task(name=TASK_ADD, **RETRY)  # type: ignore[untyped-decorator]
def add_documents(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace) staged documents in every kind of a collection."""
    return _run_staged(self, AddJob.model_validate(payload), rebuild=False)


def _delete(job: DeleteJob, spec: CollectionSpec, run: JobRun) -> dict[str, Any]:
    layout = Layout(get_settings().data_dir)
    versions: dict[str, str] = {}
    num_docs: dict[str, int] = {}
    for position, config in enumerate(spec.configs):
        run.progress(position, len(spec.configs))
        try:
            index = open_current(layout.index_root(spec.tenant, spec.name), config.kind)
        except IndexNotFound:
            continue
        present = [doc_id for doc_id in job.ids if doc_id in index.docs.by_ext]
        if present:
            index.delete(present)
            versions[config.kind] = _commit(index, layout, spec)
        num_docs[config.kind] = index.num_docs
    run.progress(len(spec.configs), len(spec.configs), force=True)
    return {"requested": len(job.ids), "versions": versions, "num_docs": num_docs}


@app.task(name=TASK_DELETE, **RETRY)  # type: ignore[untyped-decorator]
def delete_documents(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Delete documents by id from every kind of a collection."""
    job = DeleteJob.model_validate(payload)
    return run_job(self, job, lambda spec, run: _delete(job, spec, run))


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


@app.task(name=TASK_SWEEP_STAGING)  # type: ignore[untyped-decorator]
def sweep_staging() -> dict[str, Any]:
    """Beat task (every `staging_sweep_every_s`): remove old staging files of ended or unknown jobs."""
    settings = get_settings()
    queue = JobQueue(settings, Layout(settings.data_dir))
    try:
        removed = queue.sweep_staging(settings.staging_max_age_s)
    finally:
        queue.close()
    logger.info("staging sweep: %d files removed", len(removed))
    return {"removed": removed}
