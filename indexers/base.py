"""The one index interface, its value types and capabilities, and input validation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ValidationError

from indexers.configs import IndexConfig, parse_config
from indexers.errors import CorruptIndex, IndexNotFound, InvalidInput
from indexers.storage.doc_table import DocTable
from indexers.types import Doc, Hit

__all__ = [
    "Doc",
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

    def memory_bytes(self) -> int:
        """Bytes this index holds in memory: its arrays, ANN structures and document table, as
        estimated from their sizes. Memory-mapped file pages are excluded (the kernel pages them in on
        demand and can drop them), and so are encoder and language models, which indexes share.
        Kinds add their own pieces to the document table counted here."""
        return self.docs.memory_bytes()

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
