"""The write path: turns -> windows -> information filter -> LLM extraction -> memory units.

A window is at most `window` turns of one session (a session is split evenly), one LLM call. It is
extracted only when it adds something: its score mixes the share of entities not seen before and its
semantic novelty (1 - the best cosine to units already stored); windows below the threshold are
skipped (their turns stay stored). The fixed instruction comes first (the engine reuses its cached
prefix from call to call), then the turns as `speaker: text` lines under their date; the reply is a
compact JSON list of fact sentences, `{"facts": ["...", ...]}`, a few tokens per fact. Every
complete sentence is kept, even from a reply cut short or malformed, less repeats and sentences that
share no content word with the window; a reply without any is retried a bounded number of times,
then each turn of the window is kept as a unit of its own, so nothing said is lost. A turn whose
content words the facts drawn from it mostly leave out (a small model writes a few facts for many
turns) is kept verbatim too.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from indexers.errors import InvalidInput, LLMError
from indexers.memory.text import absolute_times, candidate_entities, format_date, terms
from indexers.memory.units import MemoryConfig, MemoryUnit, Turn, unit_id
from indexers.models.llm import LLM, ChatMessage, Completion

__all__ = [
    "EXTRACT_SYSTEM",
    "Extraction",
    "annotated",
    "dialogue_lines",
    "extract_units",
    "extraction_messages",
    "fact_strings",
    "information_score",
    "parse_facts",
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
    'Answer as JSON: {"facts": ["...", "..."]}'
)
MIN_FACT_WORDS = 3
MOST_SOURCES = 3
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def windows(items: Sequence[T], size: int, stride: int) -> list[list[T]]:
    """Consecutive windows of at most `size` items starting every `stride` items. Without overlap
    (`stride` equal to `size`) the items are split into the fewest windows, of near-equal lengths
    (25 items by 24: 13 and 12, not 24 and 1)."""
    if stride == size:
        count = math.ceil(len(items) / size)
        shorter, longer = divmod(len(items), count) if count else (0, 0)
        bounds = [0]
        for position in range(count):
            bounds.append(bounds[-1] + shorter + (position < longer))
        return [list(items[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
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


def dialogue_lines(window: Sequence[Turn]) -> str:
    """The window as the LLM reads it: `Date: 8 May 2023` whenever the day changes, then one
    `speaker: text` line per turn (relative times made absolute)."""
    lines, day = [], ""
    for turn in window:
        if format_date(turn.timestamp) != day:
            day = format_date(turn.timestamp)
            lines.append(f"Date: {day}")
        lines.append(f"{turn.speaker}: {annotated(turn)}")
    return "\n".join(lines)


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
    """Units from one window, whether the LLM's output was usable, and what its calls cost."""

    units: list[MemoryUnit]
    fallback: bool
    replies: tuple[Completion, ...] = ()


def fact_strings(text: str) -> list[str]:
    """The sentences of a `{"facts": [...]}` reply; from a reply cut short or malformed, every complete
    JSON string in it but its keys, and the complete sentences of a string it was cut inside."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("facts"), list):
        items = [i.get("text") if isinstance(i, dict) else i for i in whole["facts"]]
        return [i for i in items if isinstance(i, str)]
    found, end = [], 0
    for match in _STRING.finditer(text):
        end = match.end()
        if text[end:].lstrip().startswith(":"):
            continue  # a key
        try:
            found.append(json.loads(match.group(0)))
        except json.JSONDecodeError:
            continue
    opened = text.find('"', end)  # a string the reply was cut inside: keep its complete sentences
    cut = max((m.end() for m in _SENTENCE_END.finditer(text, opened + 1)), default=0) if opened >= 0 else 0
    if cut:
        try:
            found.append(json.loads(text[opened:cut] + '"'))
        except json.JSONDecodeError:
            pass
    return found


def parse_facts(text: str, window: Sequence[Turn]) -> list[tuple[str, list[Turn]]]:
    """The facts of a reply, each with its source turns: those sharing the most content words with it
    (at most `MOST_SOURCES`). Dropped: sentences shorter than `MIN_FACT_WORDS` words, repeats, and
    sentences sharing no content word with the window (inventions)."""
    facts: list[tuple[str, list[Turn]]] = []
    seen: set[str] = set()
    for sentence in fact_strings(text):
        fact = " ".join(sentence.split())
        if len(fact.split()) < MIN_FACT_WORDS or fact.lower() in seen:
            continue
        words = set(terms(fact))
        shared = [(len(words & set(terms(turn.text))), position) for position, turn in enumerate(window)]
        best = max((n for n, _ in shared), default=0)
        if best:
            seen.add(fact.lower())
            facts.append((fact, [window[p] for n, p in shared if n == best][:MOST_SOURCES]))
    return facts


def _fact_units(facts: Sequence[tuple[str, list[Turn]]], window: Sequence[Turn]) -> list[MemoryUnit]:
    key = window_key(window)
    speakers = list(dict.fromkeys(turn.speaker for turn in window))
    return [
        MemoryUnit(
            id=unit_id(f"llm|{key}|{position}"),
            text=text,
            keywords=sorted(set(terms(text)))[:12],
            entities=candidate_entities(text),
            persons=[s for s in speakers if s.lower() in text.lower()],
            time=max(turn.timestamp for turn in sources).date().isoformat(),
            source_turn_ids=[turn.id for turn in sources],
            origin="llm",
            session=window[-1].session,
            window=key,
        )
        for position, (text, sources) in enumerate(facts)
    ]


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


def extraction_messages(window: Sequence[Turn]) -> list[ChatMessage]:
    """The fixed instruction first (a prefix the engine caches), then the window's dialogue."""
    return [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": "Dialogue:\n" + dialogue_lines(window)},
    ]


def extract_units(llm: LLM, window: Sequence[Turn], config: MemoryConfig) -> Extraction:
    """Memory units for one window: the LLM's facts (and the turns they leave out), or the raw turns
    when its output holds no fact."""
    facts: list[tuple[str, list[Turn]]] = []
    replies: list[Completion] = []
    for _ in range(config.llm_attempts):
        try:
            reply = llm.chat(
                extraction_messages(window), max_tokens=config.extract_max_tokens, json_mode=True
            )
            replies.append(reply)
        except (LLMError, InvalidInput) as exc:  # timeout, endpoint down, prompt too long
            logger.warning("extraction failed for window %s: %s", window_key(window), exc)
            continue
        facts = parse_facts(reply.text, window)
        if facts:
            break
        logger.warning("no facts in the reply for window %s: %r", window_key(window), reply.text[:200])
    if not facts:
        return Extraction(raw_units(window), True, tuple(replies))
    units = _fact_units(facts, window)
    kept = units + raw_units(uncovered(window, units, config.raw_coverage))
    return Extraction(kept, False, tuple(replies))
