"""Cheap text analysis for memory: terms (lexical view), candidate entities, and relative times
made absolute against a turn's timestamp."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from datetime import datetime, timedelta

__all__ = [
    "absolute_times",
    "candidate_entities",
    "format_date",
    "format_time",
    "lexical_vector",
    "query_vector",
    "symbols",
    "terms",
]

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there all any both
    each few more most other some such no nor not only own same so than too very s t can will just don
    should now i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this that
    these those am is are was were be been being have has had having do does did doing would could ought
    im ive its thats dont didnt doesnt isnt wasnt yeah oh hey hi wow really also just like got get""".split()
)
_WORD = re.compile(r"[A-Za-z0-9']+")
_CAPITAL = re.compile(r"\b([A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)*)")
_NOT_ENTITIES = frozenset(
    "I I'm I've I'll I'd Hey Hi Hello Oh Wow Yeah Yes No Thanks Thank Sure Okay OK So And But The That "
    "This What When Where Who Why How It's It Me My You Your We Our They Their He She His Her Did Do Does "
    "Is Are Was Were Have Has Had Can Could Would Should Will Let Just Also Well Great Awesome Sounds".split()
)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "few": 3}


def terms(text: str) -> list[str]:
    """Lower-cased content words of `text` (stop words dropped, apostrophes removed)."""
    words = (w.replace("'", "").lower() for w in _WORD.findall(text))
    return [w for w in words if w and w not in STOPWORDS]


def lexical_vector(text: str, *, k1: float, b: float, avgdl: float) -> tuple[list[int], list[float]]:
    """BM25 document-side term weights as a sparse vector (hashed term ids, saturated tf with length
    normalisation); the collection's IDF is applied at query time by the store."""
    counts = Counter(terms(text))
    length = sum(counts.values())
    ids, weights = [], []
    for term, tf in sorted(counts.items()):
        ids.append(zlib.crc32(term.encode()))
        weights.append(tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl)))
    return ids, weights


def query_vector(text: str) -> tuple[list[int], list[float]]:
    """Query-side sparse vector: each distinct term once."""
    unique = sorted(set(terms(text)))
    return [zlib.crc32(t.encode()) for t in unique], [1.0] * len(unique)


def candidate_entities(text: str) -> list[str]:
    """Capitalised words and runs of them, a cheap stand-in for named entities (order kept, deduplicated)."""
    found: dict[str, None] = {}
    for match in _CAPITAL.finditer(text):
        words = [w for w in match.group(1).split() if w not in _NOT_ENTITIES]
        if words:
            found[" ".join(words)] = None
    return list(found)


def symbols(names: list[str]) -> set[str]:
    """Lower-cased names and their words (longer than two letters): the keys of the symbolic view."""
    out = set()
    for name in names:
        lowered = name.lower().strip()
        if lowered:
            out.add(lowered)
            out.update(w for w in terms(lowered) if len(w) > 2)
    return out


def format_date(day: datetime) -> str:
    """'7 May 2023'."""
    return f"{day.day} {day:%B %Y}"


def format_time(value: str) -> str:
    """A unit's ISO date or date-time as `format_date` writes it ('2023-05-07' -> '7 May 2023');
    any other text as it is."""
    try:
        return format_date(datetime.fromisoformat(value))
    except ValueError:
        return value


def _month_shift(anchor: datetime, months: int) -> datetime:
    index = anchor.year * 12 + anchor.month - 1 + months
    return anchor.replace(year=index // 12, month=index % 12 + 1, day=1)


def _resolve(phrase: str, anchor: datetime) -> str | None:
    """The absolute form of one relative time phrase (lower case), or None."""
    fixed = {
        "yesterday": format_date(anchor - timedelta(days=1)),
        "last night": format_date(anchor - timedelta(days=1)),
        "today": format_date(anchor),
        "tonight": format_date(anchor),
        "this morning": format_date(anchor),
        "tomorrow": format_date(anchor + timedelta(days=1)),
        "last week": f"the week before {format_date(anchor)}",
        "last weekend": f"the weekend before {format_date(anchor)}",
        "this week": f"the week of {format_date(anchor)}",
        "next week": f"the week after {format_date(anchor)}",
        "last month": f"{_month_shift(anchor, -1):%B %Y}",
        "this month": f"{anchor:%B %Y}",
        "next month": f"{_month_shift(anchor, 1):%B %Y}",
        "last year": str(anchor.year - 1),
        "this year": str(anchor.year),
        "next year": str(anchor.year + 1),
    }
    if phrase in fixed:
        return fixed[phrase]
    match = re.fullmatch(r"(a|an|one|two|three|four|five|six|few|\d+) (day|week|month|year)s? ago", phrase)
    if match:
        count = NUMBERS.get(match.group(1)) or int(match.group(1))
        unit = match.group(2)
        if unit == "day":
            return format_date(anchor - timedelta(days=count))
        if unit == "week":
            return f"about {format_date(anchor - timedelta(weeks=count))}"
        if unit == "month":
            return f"{_month_shift(anchor, -count):%B %Y}"
        return str(anchor.year - count)
    match = re.fullmatch(r"last (\w+day)", phrase)
    if match and match.group(1) in WEEKDAYS:
        back = (anchor.weekday() - WEEKDAYS.index(match.group(1))) % 7 or 7
        return format_date(anchor - timedelta(days=back))
    return None


_RELATIVE = re.compile(
    r"\b(yesterday|last night|today|tonight|this morning|tomorrow"
    r"|(?:last|this|next) (?:weekend|week|month|year)"
    r"|(?:a|an|one|two|three|four|five|six|few|\d+) (?:day|week|month|year)s? ago"
    r"|last (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.IGNORECASE,
)


def absolute_times(text: str, anchor: datetime) -> tuple[str, str | None]:
    """`text` with each relative time phrase followed by its absolute form in parentheses, and the
    first absolute form found (None if the text has no relative time).

    >>> absolute_times("I went there yesterday.", datetime(2023, 5, 8))
    ('I went there yesterday (7 May 2023).', '7 May 2023')
    """
    first: list[str] = []

    def annotate(match: re.Match[str]) -> str:
        resolved = _resolve(match.group(0).lower(), anchor)
        if resolved is None:
            return match.group(0)
        first.append(resolved)
        return f"{match.group(0)} ({resolved})"

    return _RELATIVE.sub(annotate, text), (first[0] if first else None)
