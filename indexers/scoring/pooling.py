"""Hierarchical token pooling (Clavié et al., 2024): merge similar token vectors of a document.

Ward linkage over the L2-normalised token vectors (Euclidean distance between unit vectors is
`sqrt(2 * cosine distance)`, so this is Ward clustering under cosine distance), cut into
`max(n // pool_factor, 1)` clusters; each cluster becomes its mean, re-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from indexers.parallel import thread_map
from indexers.scoring.blas import one_blas_thread

__all__ = ["PooledTokens", "pool_documents", "pool_tokens"]


class PooledTokens:
    """Result of pooling one document.

    Attributes:
        vectors: `(m, dim)` float32 unit vectors, `m <= n`.
        representatives: `(m,)` index of the original token closest to each pooled vector.
        assignment: `(n,)` pooled-vector index of every original token.
    """

    __slots__ = ("assignment", "representatives", "vectors")

    def __init__(self, vectors: np.ndarray, representatives: np.ndarray, assignment: np.ndarray) -> None:
        self.vectors = vectors
        self.representatives = representatives
        self.assignment = assignment


def pool_tokens(vectors: np.ndarray, pool_factor: int) -> PooledTokens:
    """Pool one document's token vectors.

    Args:
        vectors: `(n, dim)` float32 unit vectors of one document.
        pool_factor: target reduction; 1 returns the input unchanged.

    Returns:
        PooledTokens with about `n / pool_factor` vectors.
    """
    n = len(vectors)
    if pool_factor <= 1 or n <= 2:
        identity = np.arange(n)
        return PooledTokens(np.asarray(vectors, dtype=np.float32), identity, identity)
    target = max(n // pool_factor, 1)
    x = vectors.astype(np.float64)
    # Euclidean distances from the Gram matrix (one BLAS call; faster than pdist), condensed form.
    squared = np.maximum(2.0 - 2.0 * (x @ x.T), 0.0)
    tree = linkage(np.sqrt(squared[np.triu_indices(n, k=1)]), method="ward")
    labels = fcluster(tree, t=target, criterion="maxclust") - 1
    _, assignment = np.unique(labels, return_inverse=True)
    m = int(assignment.max()) + 1
    order = np.argsort(assignment, kind="stable")
    sums = np.add.reduceat(x[order], np.searchsorted(assignment[order], np.arange(m)), axis=0)
    pooled = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    sims = np.einsum("nd,nd->n", vectors, pooled[assignment])
    by_cluster_then_similarity = np.lexsort((-sims, assignment))
    first_of_cluster = np.searchsorted(assignment[by_cluster_then_similarity], np.arange(m))
    representatives = by_cluster_then_similarity[first_of_cluster]
    return PooledTokens(pooled, representatives, assignment)


def pool_documents(documents: Sequence[np.ndarray], pool_factor: int) -> list[PooledTokens]:
    """`pool_tokens` of each document, in order, over a few threads with BLAS on one thread each:
    a document's products are too small for BLAS's own threads, which only contend with the others
    (the linkage and the products release the GIL)."""
    with one_blas_thread():
        return thread_map(partial(pool_tokens, pool_factor=pool_factor), documents)
