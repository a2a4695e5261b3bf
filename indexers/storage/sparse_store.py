"""Sparse vocabulary-space vectors, grouped by document, stored as CSR arrays and memory-mapped on load.

Rows are sparse vectors over a vocabulary (`vocab_size` columns): one row per token for SLIM, one
row per document for LENS. Document `i` (a DocTable internal id) owns rows `offsets[i]:offsets[i+1]`.
Row `r` owns entries `indptr[r]:indptr[r+1]` of `indices` (vocabulary ids, uint16 when the
vocabulary fits, else int32) and `data` (float16 weights). Each row may keep the vocabulary id of
the input token it stands for (`token_ids`), which explanations use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexers.errors import CorruptIndex
from indexers.storage.resident import array_bytes

__all__ = ["SparseStore", "concat_ranges", "csr_from_top_k", "top_k_rows"]

_FILES = ("indptr", "indices", "data", "offsets", "token_ids")


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of several ranges back to back: `[s0, s0+1, ..., s0+l0-1, s1, ...]`.

    >>> concat_ranges(np.array([5, 1]), np.array([2, 3])).tolist()
    [5, 6, 1, 2, 3]
    """
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]) if len(ends) else 0)


def top_k_rows(matrix: np.ndarray, k: int) -> sp.csr_matrix:
    """The `k` largest entries of each row of a dense `(n, dim)` matrix, zeros dropped, as CSR float32.

    >>> top_k_rows(np.array([[0.0, 3.0, 1.0, 2.0]]), 2).toarray().tolist()
    [[0.0, 3.0, 0.0, 2.0]]
    """
    k = min(k, matrix.shape[1])
    top = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(matrix, top, axis=1)
    return csr_from_top_k(top, values, matrix.shape[1])


def csr_from_top_k(indices: np.ndarray, values: np.ndarray, width: int) -> sp.csr_matrix:
    """CSR float32 from per-row `(n, k)` column ids and values, dropping entries that are not positive."""
    keep = values > 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    matrix = sp.csr_matrix(
        (values[keep].astype(np.float32), indices[keep].astype(np.int32), indptr), shape=(len(values), width)
    )
    matrix.sort_indices()
    return matrix


class SparseStore:
    """Append-only CSR matrix of sparse vectors grouped by document."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.indptr = np.zeros(1, dtype=np.int64)
        self.indices = np.zeros(0, dtype=np.uint16 if vocab_size <= 1 << 16 else np.int32)
        self.data = np.zeros(0, dtype=np.float16)
        self.offsets = np.zeros(1, dtype=np.int64)
        self.token_ids = np.zeros(0, dtype=np.int32)

    @property
    def num_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_slots(self) -> int:
        """Number of documents (internal ids) with a slot, live or tombstoned."""
        return len(self.offsets) - 1

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in _FILES)

    def memory_bytes(self) -> int:
        """Bytes of the arrays held in memory (none right after a load: they are memory-mapped)."""
        return array_bytes(*(getattr(self, name) for name in _FILES))

    def append(self, rows: Sequence[sp.csr_matrix], token_ids: Sequence[np.ndarray] | None = None) -> None:
        """Append one `(n_i, vocab_size)` CSR block per document, in internal-id order.

        Args:
            rows: each document's sparse rows (a document may have none).
            token_ids: `(n_i,)` input token id per row, per document (SLIM); None for one row per
                document (LENS).
        """
        if not rows:
            return
        block = sp.vstack(rows, format="csr") if len(rows) > 1 else rows[0].tocsr()
        self.indptr = np.concatenate([self.indptr, self.indptr[-1] + block.indptr[1:].astype(np.int64)])
        self.indices = np.concatenate([self.indices, block.indices.astype(self.indices.dtype)])
        self.data = np.concatenate([self.data, block.data.astype(np.float16)])
        lengths = np.fromiter((r.shape[0] for r in rows), dtype=np.int64, count=len(rows))
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lengths)])
        if token_ids is not None:
            self.token_ids = np.concatenate([self.token_ids, *(t.astype(np.int32) for t in token_ids)])

    def rows(self, row_ids: np.ndarray) -> sp.csr_matrix:
        """The given rows, in order, as a `(len(row_ids), vocab_size)` float32 CSR matrix."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        starts = self.indptr[row_ids]
        lengths = self.indptr[row_ids + 1] - starts
        entries = concat_ranges(starts, lengths)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return sp.csr_matrix(
            (self.data[entries].astype(np.float32), self.indices[entries].astype(np.int32), indptr),
            shape=(len(row_ids), self.vocab_size),
        )

    def doc_rows(self, internal: int) -> np.ndarray:
        """Row ids of one document."""
        return np.arange(self.offsets[internal], self.offsets[internal + 1])

    def gather(self, internal_ids: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """Rows of several documents back to back, and `(len(ids) + 1,)` offsets into them."""
        starts = self.offsets[internal_ids]
        lengths = self.offsets[internal_ids + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return self.rows(concat_ranges(starts, lengths)), offsets

    def save(self, path: Path, prefix: str) -> None:
        for name in _FILES:
            np.save(path / f"{prefix}_{name}.npy", np.ascontiguousarray(getattr(self, name)))

    @classmethod
    def load(cls, path: Path, prefix: str, vocab_size: int) -> SparseStore:
        """Open a saved store; entries are memory-mapped, not read."""
        store = cls(vocab_size)
        try:
            for name in _FILES:
                setattr(store, name, np.load(path / f"{prefix}_{name}.npy", mmap_mode="r"))
        except (OSError, ValueError) as exc:
            raise CorruptIndex(f"{path}: unreadable sparse store {prefix!r}: {exc}") from exc
        if (
            store.indptr[-1] != len(store.indices)
            or len(store.indices) != len(store.data)
            or store.offsets[-1] != store.num_rows
            or len(store.token_ids) not in (0, store.num_rows)
        ):
            raise CorruptIndex(f"{path}: sparse store {prefix!r} arrays disagree on their sizes")
        return store
