"""Job payloads and on-disk layout shared by the API and the workers (pydantic and stdlib only).

The API enqueues jobs by task name and never imports `workers`; workers import this module and
`service.settings`, nothing else from `service`. Every path both sides use is computed here.

Layout under `data_dir`:
    collections/{tenant}/{name}/collection.json   the collection spec (kinds and their configs)
    collections/{tenant}/{name}/log/              accepted writes not yet applied everywhere
                                                  (service.writelog)
    collections/{tenant}/{name}/indexes/{kind}/   index versions (indexers.storage.versions)
    collections/{tenant}/{name}/indexes/MANIFEST.json  the live version of every kind, and the
                                                  last write they hold
    collections/{tenant}/{name}/.lock             flock held by whoever writes the indexes
    jobs/{tenant}/{job_id}.json                   job record (type, collection, write, times, worker)
    jobs/{tenant}/{job_id}.cancel                 present once cancellation was asked for
    jobs/{tenant}/{job_id}.heartbeat              touched by the worker while the job runs
    memory/{tenant}/{agent}/                      one agent's memory (indexers.memory.MemoryStore)
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from indexers.configs import IndexConfig
from indexers.storage.versions import atomic_write
from service.settings import Settings
from service.writelog import WriteLog

if TYPE_CHECKING:
    from indexers.memory import MemoryStore

__all__ = [
    "TASK_MEMORY_ADD",
    "TASK_MEMORY_CONSOLIDATE",
    "TASK_MEMORY_SCHEDULE",
    "MemoryJob",
    "memory_store",
    "TASK_ADD",
    "TASK_BUILD",
    "TASK_DELETE",
    "TASK_SYNC",
    "INDEX_TASKS",
    "CollectionLocked",
    "CollectionSpec",
    "IndexJob",
    "JobPayload",
    "JobRecord",
    "JobType",
    "Layout",
    "WorkerInfo",
    "beat_needed",
    "celery_config",
    "collection_lock",
]

TASK_BUILD: Final = "index.build"
TASK_ADD: Final = "index.add"
TASK_DELETE: Final = "index.delete"
TASK_SYNC: Final = "index.sync"
INDEX_TASKS: Final = (TASK_BUILD, TASK_ADD, TASK_DELETE, TASK_SYNC)
TASK_MEMORY_ADD: Final = "memory.add_turns"
TASK_MEMORY_CONSOLIDATE: Final = "memory.consolidate"
TASK_MEMORY_SCHEDULE: Final = "memory.consolidate_due"
JobType = Literal[
    "index.build", "index.add", "index.delete", "index.sync", "memory.add_turns", "memory.consolidate"
]


class JobPayload(BaseModel):
    """What every index job carries: its id and the collection it writes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    tenant: str
    collection: str


class IndexJob(JobPayload):
    """Bring every kind of a collection up to (at least) write `seq` of its write log: the write that
    the job was enqueued for (build, add, delete), or the last accepted one (sync)."""

    seq: int = Field(ge=0)
    collection_uid: str | None = Field(None, description="the `uid` of the collection that took the write")


class MemoryJob(JobPayload):
    """Extract the pending turns of an agent's memory, or consolidate it; `collection` is `memory:{agent}`."""

    agent: str


class CollectionSpec(BaseModel):
    """A collection: its name, owner and the index kinds it keeps (one config per kind)."""

    name: str
    tenant: str
    configs: list[IndexConfig]
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    uid: str | None = Field(
        None, description="set at creation: tells this collection from an earlier one of the same name"
    )

    def took(self, uid: str | None) -> bool:
        """Whether a write accepted for the collection `uid` (None: from before collections had
        uids) belongs to this collection, not to an earlier one of the same name."""
        return uid is None or uid == self.uid

    @property
    def kinds(self) -> list[str]:
        return [config.kind for config in self.configs]

    def config_for(self, kind: str) -> IndexConfig | None:
        return next((config for config in self.configs if config.kind == kind), None)


class WorkerInfo(BaseModel):
    """The worker process that ran a job: its Celery node name (or host name) and process id."""

    hostname: str
    pid: int


class JobRecord(BaseModel):
    """What the API remembers about a job it enqueued (the state lives in the Celery backend); the
    worker adds when it started and finished the job and who ran it (the last attempt's)."""

    id: str
    type: JobType
    tenant: str
    collection: str
    seq: int | None = Field(None, description="the collection write an index job applies")
    collection_uid: str | None = Field(None, description="the `uid` of the collection an index job writes")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: WorkerInfo | None = None


class CollectionLocked(Exception):
    """Another process holds the collection's write lock."""


class Layout:
    """Every path under `data_dir`, computed in one place."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def tenant_dir(self, tenant: str) -> Path:
        return self.data_dir / "collections" / tenant

    def collection_dir(self, tenant: str, name: str) -> Path:
        return self.tenant_dir(tenant) / name

    def spec_file(self, tenant: str, name: str) -> Path:
        return self.collection_dir(tenant, name) / "collection.json"

    def index_root(self, tenant: str, name: str) -> Path:
        """Root handed to `indexers.storage.versions`; the storage name inside it is the kind."""
        return self.collection_dir(tenant, name) / "indexes"

    def lock_file(self, tenant: str, name: str) -> Path:
        return self.collection_dir(tenant, name) / ".lock"

    def write_log(self, tenant: str, name: str) -> WriteLog:
        return WriteLog(self.collection_dir(tenant, name) / "log")

    def collections(self) -> list[tuple[str, str]]:
        """(tenant, name) of every collection."""
        found = self.data_dir.glob("collections/*/*/collection.json")
        return sorted((path.parent.parent.name, path.parent.name) for path in found)

    def jobs_dir(self, tenant: str) -> Path:
        return self.data_dir / "jobs" / tenant

    def job_file(self, tenant: str, job_id: str, suffix: str = "json") -> Path:
        return self.jobs_dir(tenant) / f"{job_id}.{suffix}"

    def memory_dir(self, tenant: str, agent: str) -> Path:
        return self.data_dir / "memory" / tenant / agent

    def agents(self) -> list[tuple[str, str]]:
        """(tenant, agent) of every agent memory folder."""
        root = self.data_dir / "memory"
        return sorted((path.parent.name, path.name) for path in root.glob("*/*") if path.is_dir())

    def read_spec(self, tenant: str, name: str) -> CollectionSpec | None:
        """The collection spec, or None if the collection does not exist."""
        try:
            return CollectionSpec.model_validate_json(self.spec_file(tenant, name).read_text())
        except FileNotFoundError:
            return None

    def same_collection(self, record: JobRecord) -> bool:
        """Whether the collection the job was accepted for still exists (not deleted, nor deleted
        and made again under its name since)."""
        spec = self.read_spec(record.tenant, record.collection)
        return spec is not None and spec.took(record.collection_uid)

    def read_record(self, tenant: str, job_id: str) -> JobRecord | None:
        """The job's record, or None if the tenant has no such job."""
        try:
            return JobRecord.model_validate_json(self.job_file(tenant, job_id).read_text())
        except FileNotFoundError:
            return None

    def write_record(self, record: JobRecord) -> None:
        atomic_write(self.job_file(record.tenant, record.id), record.model_dump_json())

    def job_started(self, tenant: str, job_id: str, worker: WorkerInfo) -> None:
        """Note in the job's record (if it has one) that `worker` starts it now."""
        record = self.read_record(tenant, job_id)
        if record is not None:
            now = datetime.now(UTC)
            self.write_record(
                record.model_copy(update={"started_at": now, "finished_at": None, "worker": worker})
            )

    def job_finished(self, tenant: str, job_id: str) -> None:
        """Note in the job's record (if it has one) that its run ended now, whatever the outcome."""
        record = self.read_record(tenant, job_id)
        if record is not None:
            self.write_record(record.model_copy(update={"finished_at": datetime.now(UTC)}))

    def cancel_requested(self, tenant: str, job_id: str) -> bool:
        return self.job_file(tenant, job_id, "cancel").exists()

    def heartbeat(self, tenant: str, job_id: str) -> None:
        path = self.job_file(tenant, job_id, "heartbeat")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


@contextmanager
def collection_lock(path: Path, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (one writer per collection across processes).

    Raises:
        CollectionLocked: `blocking` is False and another process holds the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise CollectionLocked(str(path)) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery configuration shared by the API's client app and the worker app."""
    config: dict[str, Any] = {
        "broker_url": settings.broker,
        "result_backend": settings.backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "result_expires": settings.result_expires_s,
        "result_extended": True,
        "task_default_queue": settings.task_queue,
        "task_routes": {
            "index.*": {"queue": settings.task_queue},
            "memory.*": {"queue": settings.task_queue},
        },
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    schedule = {
        task: {"task": task, "schedule": every, "options": {"queue": settings.task_queue, "expires": every}}
        for task, every in ((TASK_MEMORY_SCHEDULE, settings.memory_consolidate_every_s),)
        if every > 0
    }
    if schedule:
        config["beat_schedule"] = schedule
        config["beat_schedule_filename"] = str(settings.data_dir / "celerybeat-schedule")
    if settings.mode == "embedded":
        # The SQLAlchemy transport has no fanout exchange: no remote control, mingle or gossip.
        config["worker_enable_remote_control"] = False
    else:
        # Unacknowledged jobs of a dead worker come back after the visibility timeout; sweep for
        # them at least every 10 s (kombu's default scans only on every 10th 10 s tick).
        config["broker_transport_options"] = {
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": min(10, max(1, settings.visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        }
    return config


def beat_needed(settings: Settings) -> bool:
    """Whether some periodic task is on (then one Celery beat must run)."""
    return "beat_schedule" in celery_config(settings)


def memory_store(settings: Settings, tenant: str, agent: str) -> MemoryStore:
    """The store of a tenant's agent: a folder under data_dir, and the Qdrant server if one is set."""
    from indexers.memory import MemoryStore

    return MemoryStore(
        Layout(settings.data_dir).memory_dir(tenant, agent),
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
        name=f"{tenant}.{agent}",
    )
