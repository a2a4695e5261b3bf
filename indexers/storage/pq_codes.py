"""Product-quantiser encoding, compiled (numba): each sub-vector's nearest of its 256 sub-centroids.

`argmin_c |x - c|^2 = argmin_c (|c|^2 / 2 - x . c)`: per sub-vector the loop accumulates that
over the sub-centroids laid out contiguously (so the inner loop vectorises across them) and keeps
the smallest: the same codes as FAISS's `ProductQuantizer.compute_codes` (up to float rounding on
exact ties). FAISS has vectorised distance kernels for sub-vectors of 1, 2, 4, 8 and 12 floats and
is the faster there; for other lengths (6, at the default 64 codes of a 384-d vector) it computes
one distance at a time and the compiled loop is several times faster, so `PQEncoder` uses it for
those. The loop releases the GIL and the rows are split over a few threads.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from indexers.parallel import thread_map
from indexers.storage.faiss_lib import load_faiss

__all__ = ["PQEncoder"]

_ROWS_PER_TASK = 8192
FAISS_FAST_SUB = frozenset({1, 2, 4, 8, 12})
"""Sub-vector lengths FAISS computes distances for with a dedicated kernel."""


@numba.njit(cache=True, nogil=True)
def _encode(vectors: np.ndarray, books_t: np.ndarray, half_norms: np.ndarray, out: np.ndarray) -> None:
    m, sub, k = books_t.shape
    dist = np.empty(k, dtype=np.float32)
    for i in range(vectors.shape[0]):
        for j in range(m):
            dist[:] = half_norms[j]
            for s in range(sub):
                x = vectors[i, j * sub + s]
                book = books_t[j, s]
                for c in range(k):
                    dist[c] -= x * book[c]
            best, best_value = 0, dist[0]
            for c in range(1, k):
                if dist[c] < best_value:
                    best, best_value = c, dist[c]
            out[i, j] = best


class PQEncoder:
    """Encodes `(n, m * sub)` float32 vectors against codebooks `(m, 256, sub)` into `(n, m)` uint8:
    through FAISS for the sub-vector lengths it has kernels for (`FAISS_FAST_SUB`) unless
    `compiled`, else through the compiled loop."""

    def __init__(
        self, codebooks: np.ndarray, threads: int | None = None, compiled: bool | None = None
    ) -> None:
        books = np.asarray(codebooks, dtype=np.float32)
        if books.ndim != 3 or books.shape[1] != 256:
            raise ValueError(f"codebooks must be (m, 256, sub), got {books.shape}")
        m, _, sub = books.shape
        self._width, self._threads = m * sub, threads
        self._faiss: Any = None
        if not (sub not in FAISS_FAST_SUB if compiled is None else compiled):
            self._faiss = load_faiss().ProductQuantizer(m * sub, m, 8)
            load_faiss().copy_array_to_vector(np.ascontiguousarray(books).ravel(), self._faiss.centroids)
            return
        self._books_t = np.ascontiguousarray(books.transpose(0, 2, 1))
        self._half_norms = np.ascontiguousarray(0.5 * (books * books).sum(axis=2), dtype=np.float32)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes `(n, m)` uint8 of `vectors` `(n, m * sub)`."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._width:
            raise ValueError(f"vectors must be (n, {self._width}), got {vectors.shape}")
        if self._faiss is not None:
            codes: np.ndarray = self._faiss.compute_codes(vectors)
            return codes
        out = np.empty((len(vectors), len(self._books_t)), dtype=np.uint8)
        parts = [slice(s, s + _ROWS_PER_TASK) for s in range(0, len(vectors), _ROWS_PER_TASK)]
        books_t, half_norms = self._books_t, self._half_norms
        thread_map(lambda p: _encode(vectors[p], books_t, half_norms, out[p]), parts, self._threads)
        return out
