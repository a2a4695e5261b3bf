"""Share one encoding of a text among the index kinds that use the same model.

Within `shared_encodings()`, a token encoder keeps the last-layer states of every document it
encodes (float16, keyed by model and token ids) and hands them to the next kind that asks for the
same document, so a write to a collection with `exact`, `colbert_pooled`, `xtr` and `dense` runs the
model once per document instead of four times. Outside that scope nothing is kept. The cache is
bounded by bytes: once full it keeps what it holds and takes nothing new, since the kinds read a
write's documents in the same order (evicting the oldest would drop each state just before the next
kind asks for it); the documents past the bound are encoded by each kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

__all__ = ["EncodingCache", "Row", "active_cache", "shared_encodings"]

Key = tuple[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Row:
    """One text's states as the model gave them: hidden `(n, dim)` float16, attention and kept-token
    masks `(n,)` bool, for its `n` token ids."""

    hidden: np.ndarray
    attention: np.ndarray
    keep: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.hidden.nbytes + self.attention.nbytes + self.keep.nbytes)


class EncodingCache:
    """Rows by (model key, token ids), at most `max_bytes` of them; full, it takes no more."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._rows: dict[Key, Row] = {}

    def get(self, key: Key) -> Row | None:
        row = self._rows.get(key)
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row

    def put(self, key: Key, row: Row) -> None:
        if key in self._rows or self.nbytes + row.nbytes > self.max_bytes:
            return
        self._rows[key] = row
        self.nbytes += row.nbytes


_ACTIVE: ContextVar[EncodingCache | None] = ContextVar("tessera_shared_encodings", default=None)


def active_cache() -> EncodingCache | None:
    """The cache of the innermost `shared_encodings()` scope, if any."""
    return _ACTIVE.get()


@contextmanager
def shared_encodings(max_bytes: int = 2 * 2**30) -> Iterator[EncodingCache]:
    """Within: token encoders share document states by model (at most `max_bytes` kept)."""
    token = _ACTIVE.set(EncodingCache(max_bytes))
    try:
        yield _ACTIVE.get()  # type: ignore[misc]
    finally:
        _ACTIVE.reset(token)
