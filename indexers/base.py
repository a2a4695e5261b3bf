"""The one index interface, its value types, and the document table every kind shares."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
from pydantic import BaseModel, ValidationError

from indexers.configs import IndexConfig, parse_config
from indexers.errors import CorruptIndex, IndexNotFound, InvalidInput

__all__ = [
    "Doc",
    "DocTable",
    "Explainable",
    "Highlightable",
    "ExplainsTerms",
    "Hit",
    "Index",
    "Manifest",
    "Progress",
    "SharedName",
    "SharesNames",
    "TokenHeat",
    "TermWeight",
    "TokenMatch",
    "read_manifest",
    "validate_docs",
    "validate_queries",
]

Progress = Callable[[int, int], None]
"""Progress callback: `(done, total)`; total is 0 when unknown."""


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


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """Why a document scored: one query token, the document token it matched best, and the similarity."""

    query_token: str
    doc_token: str
    score: float


@runtime_checkable
class Explainable(Protocol):
    """Capability of late-interaction kinds: show which document token each query token matched."""

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """One TokenMatch per query token, in query order.

        Raises:
            InvalidInput: the query is empty or too long.
            DocumentNotFound: `doc_id` is not in the index.
        """
        ...


@dataclass(frozen=True, slots=True)
class TokenHeat:
    """One document token as the index scores it: its character span `[start, end)` in the text,
    its best similarity to any query token, that query token, and whether the token's stored vector
    is the best match of at least one query token (it counts in the MaxSim score)."""

    start: int
    end: int
    score: float
    query_token: str
    matched: bool


@runtime_checkable
class Highlightable(Protocol):
    """Capability of late-interaction kinds: a similarity for every token of a document's text."""

    def highlight(self, query: str, text: str) -> list[TokenHeat]:
        """One TokenHeat per encoded document token, in text order (text past the encoder's
        document length limit gets none).

        Raises:
            InvalidInput: the query is empty or too long.
        """
        ...


@dataclass(frozen=True, slots=True)
class TermWeight:
    """One vocabulary term and its share of a document's score for a query."""

    term: str
    score: float


@runtime_checkable
class ExplainsTerms(Protocol):
    """Capability of vocabulary-space kinds: which vocabulary terms contributed most to a score."""

    def explain_terms(self, query: str, doc_id: str, limit: int = 10) -> list[TermWeight]:
        """Up to `limit` terms with a positive contribution, largest first.

        Raises:
            InvalidInput: the query is empty or too long.
            DocumentNotFound: `doc_id` is not in the index.
        """
        ...


@dataclass(frozen=True, slots=True)
class SharedName:
    """A name a document goes by that other live documents go by too: retrieving by it is ambiguous."""

    name: str
    shared_with: list[str]


@runtime_checkable
class SharesNames(Protocol):
    """Capability of kinds that retrieve documents by name (genre): which names are ambiguous."""

    def shared_names(self, doc_id: str) -> list[SharedName]:
        """The names of `doc_id` that other live documents share (empty when none).

        Raises:
            DocumentNotFound: `doc_id` is not in the index.
        """
        ...


class Manifest(BaseModel):
    """Self-description written as `manifest.json` next to every saved index."""

    kind: str
    format_version: int
    config: dict[str, Any]
    num_docs: int
    created_at: datetime


def validate_docs(docs: Sequence[Doc]) -> None:
    """Reject a batch with empty ids, duplicate ids or no text at all.

    Raises:
        InvalidInput: naming the first offending document.
    """
    seen: set[str] = set()
    for position, doc in enumerate(docs):
        if not isinstance(doc.id, str) or not doc.id.strip():
            raise InvalidInput(f"document at position {position} has an empty id")
        if doc.id in seen:
            raise InvalidInput(f"document id {doc.id!r} appears twice in one batch")
        seen.add(doc.id)
        if not doc.full_text.strip():
            raise InvalidInput(f"document {doc.id!r} has no text")


def validate_queries(queries: Sequence[str], k: int) -> None:
    """Reject empty queries and a non-positive k.

    Raises:
        InvalidInput: naming the first offending query.
    """
    if k < 1:
        raise InvalidInput(f"k must be at least 1, got {k}")
    for position, query in enumerate(queries):
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput(f"query at position {position} is empty")


class DocTable:
    """External string ids <-> dense internal int ids, with metadata and tombstones.

    Internal ids are assigned in insertion order and never reused; re-adding an id tombstones
    its old internal id and gives it a new one, so vectors stored under the old id stop counting.
    Saved as JSON (never pickled).
    """

    FILE = "doc_table.json"

    def __init__(self) -> None:
        self.ext_ids: list[str | None] = []
        self.metadata: list[dict[str, Any] | None] = []
        self.by_ext: dict[str, int] = {}
        self._alive: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.by_ext)

    @property
    def size(self) -> int:
        """Number of internal ids ever assigned (live and tombstoned)."""
        return len(self.ext_ids)

    def assign(self, docs: Sequence[Doc]) -> np.ndarray:
        """Give each doc a fresh internal id, tombstoning any previous one. Returns `(n,)` int64."""
        start = len(self.ext_ids)
        for doc in docs:
            old = self.by_ext.get(doc.id)
            if old is not None:
                self.ext_ids[old] = None
                self.metadata[old] = None
            self.by_ext[doc.id] = len(self.ext_ids)
            self.ext_ids.append(doc.id)
            self.metadata.append(dict(doc.metadata))
        self._alive = None
        return np.arange(start, len(self.ext_ids), dtype=np.int64)

    def delete(self, doc_ids: Iterable[str]) -> list[int]:
        """Tombstone the given external ids (unknown ids are ignored); returns internal ids removed."""
        removed = []
        for doc_id in doc_ids:
            internal = self.by_ext.pop(doc_id, None)
            if internal is not None:
                self.ext_ids[internal] = None
                self.metadata[internal] = None
                removed.append(internal)
        self._alive = None
        return removed

    def alive(self) -> np.ndarray:
        """Boolean mask `(size,)`: True where the internal id is live (cached; do not modify)."""
        if self._alive is None:
            self._alive = np.fromiter((e is not None for e in self.ext_ids), dtype=bool, count=self.size)
        return self._alive

    def hit(self, internal: int, score: float) -> Hit | None:
        """Turn an internal id and score into a Hit, or None if the id is tombstoned."""
        ext = self.ext_ids[internal] if 0 <= internal < len(self.ext_ids) else None
        if ext is None:
            return None
        return Hit(doc_id=ext, score=float(score), metadata=dict(self.metadata[internal] or {}))

    def top_hits(self, internal_ids: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
        """The k best live hits among parallel arrays of internal ids and scores, best first."""
        order = np.argsort(-scores, kind="stable")
        hits: list[Hit] = []
        for position in order:
            hit = self.hit(int(internal_ids[position]), float(scores[position]))
            if hit is not None:
                hits.append(hit)
                if len(hits) == k:
                    break
        return hits

    def save(self, path: Path) -> None:
        payload = {"ids": self.ext_ids, "metadata": self.metadata}
        (path / self.FILE).write_text(json.dumps(payload, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> DocTable:
        try:
            payload = json.loads((path / cls.FILE).read_text())
            table = cls()
            table.ext_ids = list(payload["ids"])
            table.metadata = list(payload["metadata"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptIndex(f"{path}: unreadable {cls.FILE}: {exc}") from exc
        if len(table.ext_ids) != len(table.metadata):
            raise CorruptIndex(f"{path}: {cls.FILE} has mismatched ids and metadata")
        table.by_ext = {ext: i for i, ext in enumerate(table.ext_ids) if ext is not None}
        return table


class Index(ABC):
    """Text in, hits out. Every kind supports build, add (upsert), delete, search, save and load."""

    kind: ClassVar[str]
    format_version: ClassVar[int] = 1

    def __init__(self, config: IndexConfig) -> None:
        self.config = config
        self.docs = DocTable()

    @property
    def num_docs(self) -> int:
        """Number of live documents."""
        return len(self.docs)

    @abstractmethod
    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Index `docs` from scratch, replacing any content (may train centroids)."""

    @abstractmethod
    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Add documents incrementally; re-adding an existing id replaces it."""

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Remove documents by id; unknown ids are ignored. Tombstones by default."""
        self.docs.delete(doc_ids)

    @abstractmethod
    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Return up to k hits per query, best first."""

    @abstractmethod
    def _save_payload(self, path: Path) -> None:
        """Write the kind's own files into `path` (the doc table is written by `save`)."""

    @classmethod
    @abstractmethod
    def _load_payload(cls, path: Path, config: IndexConfig) -> Self:
        """Read the kind's own files from `path` into a new instance."""

    def save(self, path: Path) -> None:
        """Write the index into folder `path`: payload, doc table, then the manifest last."""
        path.mkdir(parents=True, exist_ok=True)
        self._save_payload(path)
        self.docs.save(path)
        manifest = Manifest(
            kind=self.kind,
            format_version=self.format_version,
            config=self.config.model_dump(mode="json"),
            num_docs=self.num_docs,
            created_at=datetime.now(UTC),
        )
        (path / "manifest.json").write_text(manifest.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        """Open an index saved by `save`.

        Raises:
            IndexNotFound: the folder does not exist.
            CorruptIndex: the manifest is missing or unreadable, or names another kind or format.
        """
        manifest = read_manifest(path)
        if manifest.kind != cls.kind or manifest.format_version != cls.format_version:
            raise CorruptIndex(
                f"{path}: expected {cls.kind} v{cls.format_version}, "
                f"found {manifest.kind} v{manifest.format_version}"
            )
        index = cls._load_payload(path, parse_config(manifest.config))
        index.docs = DocTable.load(path)
        return index


def read_manifest(path: Path) -> Manifest:
    """Read and validate `path/manifest.json`.

    Raises:
        IndexNotFound: `path` is not a folder.
        CorruptIndex: the manifest is missing or invalid.
    """
    if not path.is_dir():
        raise IndexNotFound(f"no index folder at {path}")
    try:
        return Manifest.model_validate_json((path / "manifest.json").read_text())
    except OSError as exc:
        raise CorruptIndex(f"{path}: missing manifest.json ({exc.strerror})") from exc
    except ValidationError as exc:
        raise CorruptIndex(f"{path}: invalid manifest.json: {exc.errors()[0]['msg']}") from exc
