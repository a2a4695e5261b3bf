"""The document table every kind shares: external ids <-> internal ids, metadata, tombstones."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexers.errors import CorruptIndex
from indexers.types import Doc, Hit

__all__ = ["DocTable"]


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
        self._bytes: int | None = None

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
        self._alive = self._bytes = None
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
        self._alive = self._bytes = None
        return removed

    def select(self, internal_ids: Sequence[int]) -> DocTable:
        """A new table holding only these internal ids, renumbered from 0 in the given order."""
        table = DocTable()
        table.ext_ids = [self.ext_ids[i] for i in internal_ids]
        table.metadata = [self.metadata[i] for i in internal_ids]
        table.by_ext = {ext: i for i, ext in enumerate(table.ext_ids) if ext is not None}
        return table

    def alive(self) -> np.ndarray:
        """Boolean mask `(size,)`: True where the internal id is live (cached; do not modify)."""
        if self._alive is None:
            self._alive = np.fromiter((e is not None for e in self.ext_ids), dtype=bool, count=self.size)
        return self._alive

    def memory_bytes(self) -> int:
        """Estimated bytes of the ids, metadata and id map (their Python objects, metadata values
        counted shallowly); computed once until the table changes."""
        if self._bytes is None:
            size = sys.getsizeof
            ids = sum(size(e) for e in self.ext_ids if e is not None)
            metadata = sum(
                size(m) + sum(size(k) + size(v) for k, v in m.items()) for m in self.metadata if m is not None
            )
            containers = (
                size(self.ext_ids) + size(self.metadata) + size(self.by_ext) + size(0) * len(self.by_ext)
            )
            self._bytes = ids + metadata + containers + self.size  # the last: the alive mask, one byte each
        return self._bytes

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
