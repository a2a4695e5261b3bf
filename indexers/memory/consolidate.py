"""Recursive consolidation: group related live units, write an abstract unit per group that points
to its sources, and retire near-duplicates into the unit they repeat (retired units stay stored).

Grouping is greedy in time order: a unit joins the first group whose centroid is at least
`group_similarity` cosine away and that shares an entity or person with it, or has its date.
Abstract ids are derived from the sorted source ids, so running consolidation twice over the same
units writes nothing new (idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from indexers.errors import InvalidInput, LLMError
from indexers.memory.retrieve import render
from indexers.memory.text import candidate_entities, terms
from indexers.memory.units import MemoryConfig, MemoryUnit, unit_id
from indexers.models.llm import LLM, ChatMessage

__all__ = ["Group", "abstract_unit", "duplicates", "group_units", "merge_into"]

logger = logging.getLogger(__name__)

ABSTRACT_SYSTEM = (
    "Summarise the related memory facts below into one or two sentences that keep every name, date "
    'and number. Answer as JSON: {"text": "..."}'
)


@dataclass
class Group:
    """Units that belong together, with their unit-normalised vectors."""

    units: list[MemoryUnit] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)

    @property
    def centroid(self) -> np.ndarray:
        mean: np.ndarray = np.mean(self.vectors, axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)

    def symbols(self) -> set[str]:
        return {s.lower() for u in self.units for s in [*u.entities, *u.persons]}

    def dates(self) -> set[str]:
        return {u.time[:10] for u in self.units if u.time}


def group_units(units: Sequence[tuple[MemoryUnit, np.ndarray]], config: MemoryConfig) -> list[Group]:
    """Groups of two or more related units, in time order."""
    groups: list[Group] = []
    for unit, vector in sorted(units, key=lambda pair: (pair[0].time or "", pair[0].id)):
        symbols = {s.lower() for s in [*unit.entities, *unit.persons]}
        for group in groups:
            if len(group.units) >= config.group_max:
                continue
            related = bool(symbols & group.symbols()) or (unit.time or "")[:10] in group.dates()
            if related and float(group.centroid @ vector) >= config.group_similarity:
                group.units.append(unit)
                group.vectors.append(vector)
                break
        else:
            groups.append(Group([unit], [vector]))
    return [group for group in groups if len(group.units) >= 2]


def duplicates(group: Group, threshold: float) -> dict[str, str]:
    """Redundant unit id -> the unit id that keeps its content (the longer text of a near-duplicate pair)."""
    retired: dict[str, str] = {}
    order = sorted(range(len(group.units)), key=lambda i: -len(group.units[i].text))
    for a_pos, a in enumerate(order):
        if group.units[a].id in retired:
            continue
        for b in order[a_pos + 1 :]:
            unit = group.units[b]
            if unit.id not in retired and float(group.vectors[a] @ group.vectors[b]) >= threshold:
                retired[unit.id] = group.units[a].id
    return retired


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, str) and v.strip()][:16]


def abstract_unit(llm: LLM, group: Sequence[MemoryUnit], config: MemoryConfig) -> MemoryUnit | None:
    """An abstract unit over `group` (shown to the LLM as a context shows units) written by the LLM;
    None when it gives nothing usable."""
    facts = "\n".join(render(unit) for unit in group)
    messages: list[ChatMessage] = [
        {"role": "system", "content": ABSTRACT_SYSTEM},
        {"role": "user", "content": f"Facts:\n{facts}"},
    ]
    try:
        reply = llm.chat_json(messages, max_tokens=config.extract_max_tokens, attempts=config.llm_attempts)
    except (LLMError, InvalidInput) as exc:
        logger.warning("no abstract for %d units: %s", len(group), exc)
        return None
    text = reply.get("text") if isinstance(reply, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    sources = sorted(u.id for u in group)
    times = sorted(u.time for u in group if u.time)
    return MemoryUnit(
        id=unit_id("abstract|" + "|".join(sources)),
        text=text.strip(),
        level=max(u.level for u in group) + 1,
        keywords=_strings(reply.get("keywords")) or sorted({k for u in group for k in u.keywords})[:16],
        entities=sorted({e for u in group for e in u.entities} | set(candidate_entities(text))),
        persons=sorted({p for u in group for p in u.persons}),
        time=times[0] if times else None,
        location=next((u.location for u in group if u.location), None),
        source_turn_ids=sorted({t for u in group for t in u.source_turn_ids}),
        source_unit_ids=sources,
        origin="abstract",
        session=group[-1].session,
    )


def merge_into(keeper: MemoryUnit, redundant: Sequence[MemoryUnit]) -> MemoryUnit:
    """`keeper` with the sources and symbols of the units it makes redundant."""
    every = [keeper, *redundant]
    return keeper.model_copy(
        update={
            "source_turn_ids": sorted({t for u in every for t in u.source_turn_ids}),
            "entities": sorted({e for u in every for e in u.entities}),
            "persons": sorted({p for u in every for p in u.persons}),
            "keywords": sorted({k for u in every for k in u.keywords} | set(terms(keeper.text)))[:24],
        }
    )
