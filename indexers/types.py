"""The two values every layer passes around: a document in, a hit out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Doc", "Hit"]


@dataclass(frozen=True, slots=True)
class Doc:
    """A document: a unique string id, its text, an optional title and a JSON metadata payload."""

    id: str
    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text joined, as encoders and BM25 see the document."""
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the document id, its score (higher is better) and its metadata."""

    doc_id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)
