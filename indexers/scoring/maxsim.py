"""Late-interaction (MaxSim) scoring math on numpy arrays, dense and sparse (SLIM's vocabulary space).

A document's score for a query is `sum_i max_j <q_i, d_j>` over query token vectors `q_i` and the
document's token vectors `d_j` (ColBERT). Documents are stored back to back in one `(n_vectors, dim)`
matrix and delimited by `offsets` (`(n_docs + 1,)`: document `i` owns rows `offsets[i]:offsets[i+1]`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["maxsim_matches", "maxsim_scores", "segment_max", "sparse_maxsim"]


def segment_max(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Column-wise max over consecutive row segments.

    Args:
        values: `(n_rows, q)` similarities.
        offsets: `(n_segments + 1,)` non-decreasing row offsets, `offsets[0] == 0`,
            `offsets[-1] == n_rows`.

    Returns:
        `(n_segments, q)` maxima; empty segments get `-inf`.

    >>> segment_max(np.array([[1.0], [3.0], [2.0]]), np.array([0, 2, 2, 3]))[:, 0].tolist()
    [3.0, -inf, 2.0]
    """
    n_segments = len(offsets) - 1
    out = np.full((n_segments, values.shape[1]), -np.inf, dtype=values.dtype)
    lengths = np.diff(offsets)
    nonempty = lengths > 0
    if nonempty.any():
        out[nonempty] = np.maximum.reduceat(values, offsets[:-1][nonempty], axis=0)
    return out


def maxsim_scores(query: np.ndarray, vectors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """MaxSim score of every document against one query.

    Args:
        query: `(q, dim)` query token vectors.
        vectors: `(n_vectors, dim)` document token vectors, documents back to back.
        offsets: `(n_docs + 1,)` row offsets of each document in `vectors`.

    Returns:
        `(n_docs,)` float32 scores; documents without vectors score `-inf`.

    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> d = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    >>> [round(float(s), 4) for s in maxsim_scores(q, d, np.array([0, 2, 3]))]
    [1.8, 1.0]
    """
    if len(offsets) <= 1:
        return np.zeros(0, dtype=np.float32)
    sims = vectors.astype(np.float32, copy=False) @ query.astype(np.float32, copy=False).T
    scores: np.ndarray = segment_max(sims, offsets).sum(axis=1).astype(np.float32)
    return scores


def maxsim_matches(query: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query token, the best-matching document vector and its similarity.

    Args:
        query: `(q, dim)` query token vectors.
        doc: `(n, dim)` one document's vectors, `n >= 1`.

    Returns:
        `(q,)` int indices into `doc` and `(q,)` float32 similarities.
    """
    sims = query.astype(np.float32) @ doc.astype(np.float32).T
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(query)), best].astype(np.float32)


def sparse_maxsim(query: sp.csr_matrix, docs: sp.csr_matrix, offsets: np.ndarray) -> np.ndarray:
    """Sparse late-interaction score of every document: `sum_i max_j <q_i, d_j>`.

    Args:
        query: `(q, V)` query token vectors.
        docs: `(n_rows, V)` document token vectors, documents back to back.
        offsets: `(n_docs + 1,)` row offsets of each document in `docs`.

    Returns:
        `(n_docs,)` float32 scores; a document without rows scores 0.

    >>> q = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    >>> d = sp.csr_matrix(np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]]))
    >>> sparse_maxsim(q, d, np.array([0, 2, 3, 3])).tolist()
    [5.0, 1.0, 0.0]
    """
    sims = (docs @ query.T).toarray().astype(np.float32)
    best = segment_max(sims, offsets)
    scores: np.ndarray = np.where(np.isfinite(best), best, 0.0).sum(axis=1).astype(np.float32)
    return scores
