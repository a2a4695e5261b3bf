"""Jobs: state, progress, result or error; list; cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ServicesDep, TenantDep
from service.schemas.common import ERRORS
from service.schemas.jobs import JobPublic, JobsParams, JobsPublic

__all__ = ["cancel", "get", "list_all", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)


@router.get("")
def list_all(query: Annotated[JobsParams, Query()], tenant: TenantDep, services: ServicesDep) -> JobsPublic:
    """The tenant's jobs, newest first (of one collection or in one state if asked)."""
    data = services.queue.jobs(tenant, query.limit, query.collection, query.state)
    return JobsPublic(data=data, count=len(data))


@router.get("/{job_id}")
def get(job_id: uuid.UUID, tenant: TenantDep, services: ServicesDep) -> JobPublic:
    """A job's state, progress (done / total), and result or error."""
    return services.queue.public(services.queue.record(tenant, str(job_id)))


@router.post("/{job_id}/cancel", status_code=202)
def cancel(job_id: uuid.UUID, tenant: TenantDep, services: ServicesDep) -> JobPublic:
    """Cancel a job: a queued one never runs; a running one stops at its next progress step and
    commits nothing."""
    return services.queue.cancel(services.queue.record(tenant, str(job_id)))
