"""Jobs as the API shows them: state, progress, result or error; the job listing's parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.schemas.common import NAME_PATTERN, StrictModel

__all__ = [
    "TERMINAL_STATES",
    "JobPublic",
    "JobState",
    "JobsParams",
    "JobsPublic",
    "ProgressPublic",
    "WorkerPublic",
]

JobState = Literal["queued", "running", "stalled", "succeeded", "failed", "cancelled"]
"""`stalled`: the job's worker went silent; its work is redelivered or, for an index job, applied by
a sync job, and the state moves on."""
TERMINAL_STATES: frozenset[JobState] = frozenset({"succeeded", "failed", "cancelled"})
"""Job states that never change again."""


class JobsParams(StrictModel):
    """Query parameters of the job listing (unknown parameters are rejected)."""

    limit: int = Field(100, ge=1, le=1000, description="at most this many jobs, newest first")
    collection: str | None = Field(None, pattern=NAME_PATTERN, description="only jobs of this collection")
    state: JobState | None = Field(None, description="only jobs in this state")


class ProgressPublic(BaseModel):
    done: int
    total: int


class WorkerPublic(BaseModel):
    hostname: str = Field(description="the worker's Celery node name (or its host name)")
    pid: int = Field(description="the worker process id")


class JobPublic(BaseModel):
    id: str
    type: str
    collection: str
    seq: int | None = Field(
        None, description="index jobs: the collection write the job applies (writes apply in this order)"
    )
    state: JobState
    progress: ProgressPublic | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    created_at: datetime
    started_at: datetime | None = Field(None, description="when a worker last started the job")
    finished_at: datetime | None = Field(None, description="when the job ended (terminal states only)")
    worker: WorkerPublic | None = Field(None, description="the worker that last ran the job")
    links: dict[str, str]


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
