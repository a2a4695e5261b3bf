"""Agent memory after SimpleMem: structured compression of dialogue into memory units, recursive
consolidation, and adaptive query-aware retrieval over dense, lexical and symbolic views.

Names load on first use, so reading the config (`indexers.memory.units`) does not import Qdrant or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "AgentMemory": "agent",
    "Answer": "agent",
    "ConsolidationReport": "agent",
    "Recall": "agent",
    "WriteReport": "agent",
    "MemoryStore": "store",
    "MemoryConfig": "units",
    "MemoryUnit": "units",
    "Turn": "units",
    "UnitPatch": "units",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'indexers.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(f"indexers.memory.{home}"), name)
