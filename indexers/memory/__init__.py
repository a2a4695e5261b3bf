"""Agent memory after SimpleMem: structured compression of dialogue into memory units, recursive
consolidation, and adaptive query-aware retrieval over dense, lexical and symbolic views."""

from __future__ import annotations

from indexers.memory.agent import AgentMemory, Answer, ConsolidationReport, Recall, WriteReport
from indexers.memory.store import MemoryStore
from indexers.memory.units import MemoryConfig, MemoryUnit, Turn, UnitPatch

__all__ = [
    "AgentMemory",
    "Answer",
    "ConsolidationReport",
    "MemoryConfig",
    "MemoryStore",
    "MemoryUnit",
    "Recall",
    "Turn",
    "UnitPatch",
    "WriteReport",
]
