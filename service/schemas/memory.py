"""Agent memory: add turns, query or answer from the memory, page through its units, its stats.

The units themselves are the library's `MemoryUnit` (and `UnitPatch` for changes), shown as they are.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from indexers.memory.units import MemoryUnit, Turn
from service.schemas.common import JSON_NUMBER, QueryText, StrictModel

__all__ = [
    "AGENT_PATTERN",
    "MemoryAnswerResponse",
    "MemoryPublic",
    "MemoryQueryRequest",
    "MemoryQueryResponse",
    "MemoryUnitsParams",
    "MemoryUnitsPublic",
    "TurnsCreate",
]

AGENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class TurnsCreate(StrictModel):
    """A batch of dialogue turns for an agent's memory."""

    turns: list[Turn] = Field(min_length=1, max_length=256, description="at most 256 turns per request")


class MemoryQueryRequest(StrictModel):
    """A question to an agent's memory and the context budget for the answer."""

    query: QueryText
    token_budget: Annotated[int, Field(ge=16, le=32_768), JSON_NUMBER] = Field(
        512, description="most LLM tokens the context may use"
    )
    k: Annotated[int, Field(ge=1, le=100), JSON_NUMBER] | None = Field(
        None, description="units to retrieve (default: by complexity)"
    )
    with_sources: StrictBool = Field(True, description="include the source turns of the returned units")


class MemoryQueryResponse(BaseModel):
    context: str
    tokens: int
    units: list[MemoryUnit]
    complexity: str
    level: str = Field(description="detailed: level-0 facts only; mixed: abstracts too")
    k: int
    sources: list[Turn]


class MemoryAnswerResponse(MemoryQueryResponse):
    answer: str
    prompt_tokens: int
    completion_tokens: int


class MemoryUnitsParams(StrictModel):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class MemoryUnitsPublic(BaseModel):
    data: list[MemoryUnit]
    count: int


class MemoryPublic(BaseModel):
    agent_id: str
    turns: int
    units: int
    live_units: int
    units_since_consolidation: int
