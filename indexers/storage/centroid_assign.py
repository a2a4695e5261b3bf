"""Each vector's nearest centroid (highest inner product), exactly or coarse-to-fine.

Exact assignment costs one inner product per (vector, centroid): at 8,192 centroids and 13 M pooled
vectors (a 100,000-document collection) that is most of the arithmetic of building the index.
Coarse-to-fine assignment groups the centroids themselves by k-means into about `sqrt(k)` groups;
a vector is compared with the group means, then only with the centroids of its `probe` best groups,
so each vector costs about `(1 + probe) * sqrt(k)` inner products instead of `k`. Both stages are
matrix products (BLAS). A vector whose true nearest centroid lies in another group gets a near one
instead; its residual codes are relative to the centroid it got, so it decodes just as exactly, only
with a slightly larger residual.
"""

from __future__ import annotations

import math

import numpy as np

from indexers.storage.faiss_lib import load_faiss

__all__ = ["COARSE_FROM", "DEFAULT_PROBE", "CentroidAssigner", "nearest_exact"]

COARSE_FROM = 8192
"""Centroid counts from which `CentroidAssigner` goes coarse-to-fine (the count a collection of about
2 million pooled vectors gets); below, exact assignment is a small share of a build and keeps the
posting lists exact, which the candidate stages rely on."""
DEFAULT_PROBE = 8
"""Groups searched per vector."""
CHUNK = 16_384
"""Vectors assigned at a time (bounds the `(chunk, k)` similarity block of exact assignment)."""
GROUP_ITERATIONS = 10


def nearest_exact(centroids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """int32 index of the highest-inner-product centroid for each vector, `CHUNK` vectors at a time."""
    out = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), CHUNK):
        out[start : start + CHUNK] = np.argmax(vectors[start : start + CHUNK] @ centroids.T, axis=1)
    return out


class CentroidAssigner:
    """Nearest-centroid assignment for one fixed set of centroids: coarse-to-fine over `probe` groups
    when there are at least `COARSE_FROM` centroids and `probe` is positive (the groups are made on
    construction, deterministically for a given seed), exact otherwise."""

    def __init__(self, centroids: np.ndarray, probe: int = DEFAULT_PROBE, seed: int = 0) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.probe = probe
        k, dim = self.centroids.shape
        self.coarse = probe > 0 and k >= COARSE_FROM
        if not self.coarse:
            return
        groups = round(math.sqrt(k))
        self._searched = min(probe, groups)
        kmeans = load_faiss().Kmeans(dim, groups, niter=GROUP_ITERATIONS, seed=seed, spherical=True)
        kmeans.train(self.centroids)
        self.means = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
        owner = nearest_exact(self.means, self.centroids)
        self.members = [np.flatnonzero(owner == g).astype(np.int32) for g in range(groups)]
        self._member_vectors = [np.ascontiguousarray(self.centroids[m].T) for m in self.members]

    def nearest(self, vectors: np.ndarray) -> np.ndarray:
        """int32 index of each vector's nearest centroid (coarse-to-fine from `COARSE_FROM` centroids)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self.coarse:
            return nearest_exact(self.centroids, vectors)
        out = np.empty(len(vectors), dtype=np.int32)
        for start in range(0, len(vectors), CHUNK):
            out[start : start + CHUNK] = self._nearest_chunk(vectors[start : start + CHUNK])
        return out

    def _nearest_chunk(self, vectors: np.ndarray) -> np.ndarray:
        n = len(vectors)
        top = np.argpartition(vectors @ self.means.T, -self._searched, axis=1)[:, -self._searched :]
        # rows probing each group, as CSR over the groups
        order = np.argsort(top, axis=None, kind="stable")
        rows_of = (order // self._searched).astype(np.intp)
        bounds = np.searchsorted(top.ravel()[order], np.arange(len(self.members) + 1))
        best = np.full(n, -np.inf, dtype=np.float32)
        best_id = np.zeros(n, dtype=np.int32)
        for g, members in enumerate(self.members):
            rows = rows_of[bounds[g] : bounds[g + 1]]
            if not len(rows) or not len(members):
                continue
            sims = vectors[rows] @ self._member_vectors[g]
            local = np.argmax(sims, axis=1)
            value = sims[np.arange(len(rows)), local]
            better = value > best[rows]
            best[rows[better]] = value[better]
            best_id[rows[better]] = members[local[better]]
        return best_id
