"""The write path: turns -> sliding windows -> information filter -> LLM extraction -> memory units.

A window is extracted only when it adds something: its score mixes the share of entities not seen
before and its semantic novelty (1 - the best cosine to units already stored); windows below the
threshold are skipped (their turns stay stored). Extraction asks the LLM for self-contained facts
as JSON; a malformed reply is retried a bounded number of times, then each turn of the window is
kept as a unit of its own, so nothing said is lost. A turn whose content words the facts drawn from
it mostly leave out (a small model often writes one fact for a whole window) is kept verbatim too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from indexers.errors import InvalidInput, LLMError
from indexers.memory.text import absolute_times, candidate_entities, format_date, terms
from indexers.memory.units import MemoryConfig, MemoryUnit, Turn, unit_id
from indexers.models.llm import LLM, ChatMessage

__all__ = [
    "Extraction",
    "annotated",
    "decode_facts",
    "extract_units",
    "information_score",
    "raw_units",
    "uncovered",
    "window_key",
    "windows",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

EXTRACT_SYSTEM = (
    "You write down what a dialogue says, for a memory. List each fact as one short sentence that makes "
    "sense alone: say who (names, not pronouns), what, and when (absolute dates). Skip greetings. "
    'Answer as JSON: {"facts": [{"text": "...", "time": "YYYY-MM-DD", "location": null, '
    '"turns": ["turn id"]}]}'
)


def windows(items: Sequence[T], size: int, stride: int) -> list[list[T]]:
    """Consecutive windows of `size` items starting every `stride` items; the last may be shorter."""
    out = []
    for start in range(0, len(items), stride):
        out.append(list(items[start : start + size]))
        if start + size >= len(items):
            break
    return out


def information_score(
    window: Sequence[Turn], seen_entities: set[str], best_similarity: float, alpha: float
) -> float:
    """alpha * share of new entities + (1 - alpha) * semantic novelty, in [0, 1]."""
    entities = {e.lower() for t in window for e in candidate_entities(t.text)}
    new = len(entities - seen_entities) / len(entities) if entities else 0.0
    return alpha * new + (1 - alpha) * max(0.0, 1.0 - best_similarity)


def window_key(window: Sequence[Turn]) -> str:
    return "|".join(turn.id for turn in window)


def annotated(turn: Turn) -> str:
    """The turn's text with relative times made absolute against its timestamp."""
    return absolute_times(turn.text, turn.timestamp)[0]


def raw_units(window: Sequence[Turn]) -> list[MemoryUnit]:
    """One unit per turn, verbatim (speaker and date added): the fallback that loses nothing."""
    units = []
    for turn in window:
        text, when = absolute_times(turn.text, turn.timestamp)
        units.append(
            MemoryUnit(
                id=unit_id(f"raw|{turn.id}"),
                text=f"{turn.speaker} said on {format_date(turn.timestamp)}: {text}",
                keywords=sorted(set(terms(turn.text)))[:12],
                entities=candidate_entities(turn.text),
                persons=[turn.speaker],
                time=turn.timestamp.date().isoformat(),
                source_turn_ids=[turn.id],
                origin="raw",
                session=turn.session,
                window=window_key(window),
            )
        )
    return units


@dataclass(frozen=True, slots=True)
class Extraction:
    """Units from one window and whether the LLM's output was usable."""

    units: list[MemoryUnit]
    fallback: bool


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, str | int | float) and str(v).strip()][:16]


def _time(value: Any, window: Sequence[Turn]) -> str:
    """The fact's ISO date if the model gave a valid one, else the date of the window's last turn."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            pass
    return window[-1].timestamp.date().isoformat()


def decode_facts(text: str) -> list[Any]:
    """The fact objects of a reply: its `facts` list, or, when the reply was cut off or malformed,
    every complete object with a `text` field that can be decoded from it."""
    decoder = json.JSONDecoder()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("facts"), list):
        return list(whole["facts"])
    found: list[Any] = []
    position = text.find("{", 1)
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict) and "text" in value:
            found.append(value)
        position = text.find("{", end)
    return found


def _units_from_facts(facts: list[Any], window: Sequence[Turn]) -> list[MemoryUnit]:
    ids = {turn.id for turn in window}
    key = window_key(window)
    speakers = {turn.speaker for turn in window}
    units = []
    for position, fact in enumerate(facts):
        if not isinstance(fact, dict) or not isinstance(fact.get("text"), str) or not fact["text"].strip():
            continue
        text = fact["text"].strip()
        sources = [t for t in _strings(fact.get("turns")) if t in ids] or _overlapping(text, window)
        persons = _strings(fact.get("persons")) or [s for s in speakers if s.lower() in text.lower()]
        location = fact.get("location")
        units.append(
            MemoryUnit(
                id=unit_id(f"llm|{key}|{position}"),
                text=text,
                keywords=_strings(fact.get("keywords")) or sorted(set(terms(text)))[:12],
                entities=_strings(fact.get("entities")) or candidate_entities(text),
                persons=persons,
                time=_time(fact.get("time"), window),
                location=location.strip() if isinstance(location, str) and location.strip() else None,
                source_turn_ids=sources,
                origin="llm",
                session=window[-1].session,
                window=key,
            )
        )
    return units


def _overlapping(text: str, window: Sequence[Turn]) -> list[str]:
    """The turns sharing a content word with `text` (every turn of the window if none does)."""
    words = set(terms(text))
    return [t.id for t in window if words & set(terms(t.text))] or [t.id for t in window]


def uncovered(window: Sequence[Turn], units: Sequence[MemoryUnit], coverage: float) -> list[Turn]:
    """Turns with content (three or more content words) of which the facts naming them as a source
    repeat less than `coverage` of the content words: what extraction left out."""
    said: dict[str, set[str]] = {}
    for unit in units:
        for turn_id in unit.source_turn_ids:
            said.setdefault(turn_id, set()).update(terms(unit.text))
    out = []
    for turn in window:
        words = set(terms(turn.text))
        if len(words) >= 3 and len(words & said.get(turn.id, set())) < coverage * len(words):
            out.append(turn)
    return out


def extract_units(llm: LLM, window: Sequence[Turn], config: MemoryConfig) -> Extraction:
    """Memory units for one window: the LLM's facts, or the raw turns when its output is unusable."""
    lines = [
        f"[{turn.id}] {turn.timestamp:%Y-%m-%d %H:%M} {turn.speaker}: {annotated(turn)}" for turn in window
    ]
    messages: list[ChatMessage] = [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": "Dialogue:\n" + "\n".join(lines)},
    ]
    units: list[MemoryUnit] = []
    for _ in range(config.llm_attempts):
        try:
            reply = llm.chat(messages, max_tokens=config.extract_max_tokens, json_mode=True)
        except (LLMError, InvalidInput) as exc:  # timeout, endpoint down, prompt too long
            logger.warning("extraction failed for window %s: %s", window_key(window), exc)
            continue
        units = _units_from_facts(decode_facts(reply.text), window)
        if units:
            break
        logger.warning("no facts in the reply for window %s: %r", window_key(window), reply.text[:200])
    if not units:
        return Extraction(raw_units(window), fallback=True)
    return Extraction(units + raw_units(uncovered(window, units, config.raw_coverage)), fallback=False)
