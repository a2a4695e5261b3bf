"""Adaptive query-aware retrieval: estimate how complex a query is, pick how many units to fetch and
at which level, fuse the dense, lexical and symbolic views, and pack a context within a token budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from qdrant_client import models

from indexers.memory.text import candidate_entities, format_date, format_time, query_vector, terms
from indexers.memory.units import MemoryConfig, MemoryUnit, Turn

__all__ = [
    "Complexity",
    "Plan",
    "classify",
    "level_filter",
    "lexical_query",
    "pack_context",
    "plan_for",
    "render",
    "render_turn",
    "symbolic_filter",
]

Complexity = Literal["simple", "moderate", "complex"]
Level = Literal["detailed", "mixed"]

_AGGREGATE = re.compile(
    r"\b(how many|how often|what (?:kinds?|types?|activities|things|books|events|places)|which \w+s\b|"
    r"both|all the|list|ever|in common|compare|differ|change|over time|would|likely|might|why)\b",
    re.IGNORECASE,
)
_TEMPORAL = re.compile(r"\b(when|how long|what (?:year|month|date|day)|before|after|since|until)\b", re.I)


@dataclass(frozen=True, slots=True)
class Plan:
    """How a query is answered: its complexity, units to fetch, and which levels to search.

    `detailed` searches level-0 facts only; `mixed` also searches abstract units (level >= 1).
    """

    complexity: Complexity
    k: int
    level: Level


def classify(query: str) -> Complexity:
    """A cheap rule-based complexity estimate.

    complex: aggregation, comparison or inference cues, or several named entities; moderate:
    temporal questions or long queries; simple: one short factual question.
    """
    entities = candidate_entities(query[:1].lower() + query[1:])
    if _AGGREGATE.search(query) or len(entities) >= 3:
        return "complex"
    if _TEMPORAL.search(query) or len(entities) == 2 or len(terms(query)) > 8:
        return "moderate"
    return "simple"


def plan_for(query: str, config: MemoryConfig, k: int | None = None) -> Plan:
    """The retrieval plan of `query` (`k` overrides the complexity's default)."""
    complexity = classify(query)
    return Plan(complexity, k or config.k[complexity], "mixed" if complexity == "complex" else "detailed")


def level_filter(plan: Plan) -> models.Filter:
    """Live units of the plan's levels."""
    must: list[models.Condition] = [
        models.FieldCondition(key="retired", match=models.MatchValue(value=False))
    ]
    if plan.level == "detailed":
        must.append(models.FieldCondition(key="level", match=models.MatchValue(value=0)))
    return models.Filter(must=must)


def symbolic_filter(base: models.Filter, symbols: Sequence[str]) -> models.Filter:
    """`base` narrowed to units whose symbols include any of `symbols`."""
    must: list[models.Condition] = list(base.must or [])  # type: ignore[arg-type]
    must.append(models.FieldCondition(key="symbols", match=models.MatchAny(any=list(symbols))))
    return models.Filter(must=must)


def lexical_query(query: str) -> models.SparseVector | None:
    """The query's sparse vector for the lexical view (each distinct term once); None without terms."""
    ids, weights = query_vector(query)
    return models.SparseVector(indices=ids, values=weights) if ids else None


def render_turn(turn: Turn) -> str:
    """A turn as one context line: date (as the conversation writes dates, '8 May 2023'), speaker,
    text."""
    return f"[{format_date(turn.timestamp)}] {turn.speaker}: {turn.text}"


def render(unit: MemoryUnit, turns: Sequence[Turn] = ()) -> str:
    """A unit as a context line, its date written as `render_turn` writes one, followed by the
    source `turns` shown with it (indented)."""
    when = f"[{format_time(unit.time)}] " if unit.time else ""
    return "\n".join([f"- {when}{unit.text}", *(f"  {render_turn(t)}" for t in turns)])


def pack_context(
    units: Sequence[MemoryUnit],
    budget: int,
    count_tokens: Callable[[str], int],
    sources: Mapping[str, Sequence[Turn]] | None = None,
    order: Literal["relevance", "time"] = "relevance",
) -> tuple[str, list[MemoryUnit], int]:
    """The best units (in the given order) that fit `budget` tokens, shown in that order or in time
    order.

    A unit with `sources` (unit id -> turns) is shown with those of its turns not shown yet when they
    fit, else alone; a verbatim (raw) unit whose turn is already shown is skipped.

    Returns:
        The context string, the units it holds, and its token count.
    """
    chosen: list[tuple[MemoryUnit, list[Turn]]] = []
    shown_turns: set[str] = set()
    used = 0
    for unit in units:
        if unit.origin == "raw" and unit.source_turn_ids and set(unit.source_turn_ids) <= shown_turns:
            continue
        extra = [t for t in (sources or {}).get(unit.id, ()) if t.id not in shown_turns]
        for turns in [extra, []] if extra else [[]]:
            cost = count_tokens(render(unit, turns) + "\n")
            if used + cost <= budget:
                chosen.append((unit, turns))
                shown_turns.update(unit.source_turn_ids if unit.origin == "raw" else [t.id for t in turns])
                used += cost
                break
    shown = chosen if order == "relevance" else sorted(chosen, key=lambda p: (p[0].time or "", -p[0].level))
    context = "\n".join(render(unit, turns) for unit, turns in shown)
    return context, [unit for unit, _ in chosen], count_tokens(context) if context else 0
