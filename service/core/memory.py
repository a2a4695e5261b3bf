"""Agent memories of a tenant: open one, and enqueue its extraction and consolidation jobs.

Each agent's memory lives under `data_dir/memory/{tenant}/{agent_id}`: another tenant's agent of
the same id is a different memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexers.memory import AgentMemory, Turn
from indexers.models.llm import LLM
from service.core.queue import new_job_id
from service.core.services import Services
from service.jobs import TASK_MEMORY_ADD, TASK_MEMORY_CONSOLIDATE, JobType, MemoryJob, memory_store
from service.schemas.jobs import JobPublic

__all__ = ["add_turns", "agent_memory", "consolidate"]


def agent_memory(services: Services, tenant: str, agent_id: str, llm: LLM) -> AgentMemory:
    """The tenant's agent memory, with the configured memory settings and `llm`."""
    settings = services.settings
    return AgentMemory(memory_store(settings, tenant, agent_id), llm, settings.memory)


def _submit(services: Services, tenant: str, agent_id: str, task: JobType) -> JobPublic:
    job = MemoryJob(job_id=new_job_id(), tenant=tenant, collection=f"memory:{agent_id}", agent=agent_id)
    return services.queue.submit(task, job)


def add_turns(services: Services, tenant: str, agent_id: str, turns: Sequence[Turn], llm: LLM) -> JobPublic:
    """Store `turns` at once (durably, as pending), then enqueue the job that extracts memory units
    from them; it consolidates too once `memory.consolidate_after` new units have arrived.

    Raises:
        InvalidInput: no turns.
    """
    agent_memory(services, tenant, agent_id, llm).stage_turns(turns)
    return _submit(services, tenant, agent_id, TASK_MEMORY_ADD)


def consolidate(services: Services, tenant: str, agent_id: str, llm: LLM) -> JobPublic:
    """Enqueue a consolidation of the agent's memory.

    Raises:
        IndexNotFound: the tenant has no such agent (checked before enqueueing).
    """
    agent_memory(services, tenant, agent_id, llm).stats()
    return _submit(services, tenant, agent_id, TASK_MEMORY_CONSOLIDATE)
