"""Agent memory: add turns (a job extracts units), query, answer, manage units, consolidate.

Every route acts on the tenant's own agent (`data_dir/memory/{tenant}/{agent_id}`): another
tenant's agent id names a different, empty memory and gets 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from indexers.memory import Recall, UnitPatch
from indexers.memory.units import ID_PATTERN, MemoryUnit
from service.api.deps import LLMDep, ServicesDep, TenantDep
from service.core import memory
from service.schemas.common import ERRORS
from service.schemas.jobs import JobPublic
from service.schemas.memory import (
    AGENT_PATTERN,
    MemoryAnswerResponse,
    MemoryPublic,
    MemoryQueryRequest,
    MemoryQueryResponse,
    MemoryUnitsParams,
    MemoryUnitsPublic,
    TurnsCreate,
)

__all__ = [
    "add_turns",
    "answer",
    "consolidate",
    "delete_unit",
    "drop",
    "get_unit",
    "list_units",
    "query",
    "router",
    "stats",
    "update_unit",
]

router = APIRouter(prefix="/v1/memory/{agent_id}", tags=["memory"], responses=ERRORS)

AgentId = Annotated[str, Path(pattern=AGENT_PATTERN, description="the agent, unique within the tenant")]
UnitId = Annotated[str, Path(pattern=ID_PATTERN, description="a memory unit id")]


def _recall(recall: Recall) -> MemoryQueryResponse:
    return MemoryQueryResponse(
        context=recall.context,
        tokens=recall.tokens,
        units=recall.units,
        complexity=recall.complexity,
        level=recall.level,
        k=recall.k,
        sources=recall.sources,
    )


@router.post("/turns", status_code=202)
def add_turns(
    agent_id: AgentId, body: TurnsCreate, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> JobPublic:
    """Store a batch of turns at once (durably, as pending), then extract memory units in a job.
    The job consolidates too once `memory.consolidate_after` new units have arrived."""
    return memory.add_turns(services, tenant, agent_id, body.turns, llm)


@router.post("/query")
def query(
    agent_id: AgentId, body: MemoryQueryRequest, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> MemoryQueryResponse:
    """The context for a query within its token budget, with the units and their source turns."""
    recall = memory.agent_memory(services, tenant, agent_id, llm).recall(
        body.query, body.token_budget, body.k, with_sources=body.with_sources
    )
    return _recall(recall)


@router.post("/answer")
def answer(
    agent_id: AgentId, body: MemoryQueryRequest, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> MemoryAnswerResponse:
    """Query the memory, then let the LLM answer from the recalled context."""
    result = memory.agent_memory(services, tenant, agent_id, llm).answer(body.query, body.token_budget)
    return MemoryAnswerResponse(
        **_recall(result.recall).model_dump(),
        answer=result.answer,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
    )


@router.get("")
def stats(agent_id: AgentId, tenant: TenantDep, services: ServicesDep, llm: LLMDep) -> MemoryPublic:
    """Counts of the agent's turns and units."""
    return MemoryPublic(agent_id=agent_id, **memory.agent_memory(services, tenant, agent_id, llm).stats())


@router.delete("", status_code=204)
def drop(agent_id: AgentId, tenant: TenantDep, services: ServicesDep, llm: LLMDep) -> Response:
    """Delete everything of the agent: turns, units, abstracts."""
    memory.agent_memory(services, tenant, agent_id, llm).drop()
    return Response(status_code=204)


@router.get("/units")
def list_units(
    agent_id: AgentId,
    page: Annotated[MemoryUnitsParams, Query()],
    tenant: TenantDep,
    services: ServicesDep,
    llm: LLMDep,
) -> MemoryUnitsPublic:
    """The agent's units (retired ones included), by level then age."""
    units, count = memory.agent_memory(services, tenant, agent_id, llm).list_units(page.limit, page.offset)
    return MemoryUnitsPublic(data=units, count=count)


@router.get("/units/{unit_id}")
def get_unit(
    agent_id: AgentId, unit_id: UnitId, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> MemoryUnit:
    """One unit."""
    return memory.agent_memory(services, tenant, agent_id, llm).get_unit(unit_id)


@router.patch("/units/{unit_id}")
def update_unit(
    agent_id: AgentId, unit_id: UnitId, body: UnitPatch, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> MemoryUnit:
    """Change a unit's text or metadata; it is re-indexed."""
    return memory.agent_memory(services, tenant, agent_id, llm).update_unit(unit_id, body)


@router.delete("/units/{unit_id}", status_code=204)
def delete_unit(
    agent_id: AgentId, unit_id: UnitId, tenant: TenantDep, services: ServicesDep, llm: LLMDep
) -> Response:
    """Delete one unit."""
    memory.agent_memory(services, tenant, agent_id, llm).delete_unit(unit_id)
    return Response(status_code=204)


@router.post("/consolidate", status_code=202)
def consolidate(agent_id: AgentId, tenant: TenantDep, services: ServicesDep, llm: LLMDep) -> JobPublic:
    """Consolidate the agent's memory in a job (poll it at /v1/jobs/{id})."""
    return memory.consolidate(services, tenant, agent_id, llm)
