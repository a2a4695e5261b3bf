"""An explanation (`POST /v1/collections/{name}/explain`) cut into text segments for the heat map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Segment", "heat_segments"]


@dataclass(frozen=True)
class Segment:
    """A run of document text; tokens carry their similarity, its query token and a 0-1 heat."""

    text: str
    score: float | None = None
    heat: float = 0.0
    query_token: str = ""
    matched: bool = False


def heat_segments(explanation: dict[str, Any]) -> list[Segment]:
    """The document text as plain and token segments, in order. Heat is the token's similarity
    rescaled between the lowest and the highest similarity in this document."""
    text: str = explanation["text"]
    tokens = sorted(explanation["tokens"], key=lambda t: (t["start"], t["end"]))
    scores = [t["score"] for t in tokens]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    span = (high - low) or 1.0
    segments: list[Segment] = []
    cursor = 0
    for token in tokens:
        start, end = max(token["start"], cursor), token["end"]
        if end <= start:
            continue  # sub-word pieces sharing a span, or specials
        if start > cursor:
            segments.append(Segment(text[cursor:start]))
        segments.append(
            Segment(
                text[start:end],
                score=token["score"],
                heat=round((token["score"] - low) / span, 3),
                query_token=token["query_token"],
                matched=token["matched"],
            )
        )
        cursor = end
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return segments
