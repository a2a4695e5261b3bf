"""Finish what a crash left undone: accepted writes that the document store lacks, and collections
whose indexes are behind their write log with no job left alive to catch them up.

The API runs `recover` once at start (before it serves) and then every `recovery_every_s` seconds
in a background thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from service.core.documents import apply_to_store
from service.core.queue import new_job_id
from service.core.services import Services
from service.jobs import INDEX_TASKS, TASK_SYNC, IndexJob

__all__ = ["Recovered", "RecoveryLoop", "recover"]

logger = logging.getLogger(__name__)


@dataclass
class Recovered:
    """What one pass did: writes applied to the store, sync jobs enqueued (by collection)."""

    stored: dict[str, int] = field(default_factory=dict)
    synced: dict[str, str] = field(default_factory=dict)


def _job_alive(services: Services, tenant: str, name: str) -> bool:
    """Whether an index job of the collection is running with a live worker, or was queued recently
    (any index job applies the whole log, so one is enough)."""
    queue = services.queue
    for record in queue.list(tenant, collection=name):
        if record.type not in INDEX_TASKS:
            continue
        state = queue.public(record).state
        if state == "running" or (state == "queued" and not queue.stale(record)):
            return True
    return False


def _enqueue_sync(services: Services, tenant: str, name: str, seq: int) -> str:
    """Submit a sync job that applies the collection's log up to `seq`; returns its id."""
    spec = services.layout.read_spec(tenant, name)
    uid = None if spec is None else spec.uid
    job = IndexJob(job_id=new_job_id(), tenant=tenant, collection=name, seq=seq, collection_uid=uid)
    return services.queue.submit(TASK_SYNC, job, accepted=True).id


def recover(services: Services) -> Recovered:
    """One pass over every collection."""
    done = Recovered()
    for tenant, name in services.layout.collections():
        log = services.layout.write_log(tenant, name)
        if log.stored() < log.head():
            with log.appending():
                applied = apply_to_store(services, tenant, name, log)
            if applied:
                done.stored[f"{tenant}/{name}"] = applied
        head = log.head()
        indexed = services.queue.applied(tenant, name)
        if indexed >= head:
            log.truncate(min(indexed, log.stored()))
        else:
            with log.appending():  # a write appends its entry and submits its job under this lock
                if not _job_alive(services, tenant, name):
                    done.synced[f"{tenant}/{name}"] = _enqueue_sync(services, tenant, name, log.head())
    if done.stored or done.synced:
        logger.warning("recovery: %s", done)
    return done


class RecoveryLoop:
    """Runs `recover` every `every_s` seconds in a daemon thread until stopped."""

    def __init__(self, services: Services, every_s: float) -> None:
        self.services = services
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                recover(self.services)
            except Exception:  # a failed pass is retried on the next tick
                logger.exception("recovery pass failed")
