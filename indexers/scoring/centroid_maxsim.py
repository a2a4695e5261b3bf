"""MaxSim over centroid look-ups, compiled (numba): PLAID's candidate scoring and centroid interaction.

A residual-coded token store replaces each stored vector by a centroid id; the similarity of query
token `i` to that vector is approximated by `sims[c, i]`, the similarity of the token to centroid `c`.
A document's approximate score is then `sum_i max_{r in doc} sims[codes[r], i]` over its rows `r`.
NumPy computes it as a `(q, n_rows)` gather and a `maximum.reduceat`; the loop here reads one
contiguous `q`-float row of the table per stored row and keeps the running maxima in registers,
without the intermediate matrix, and releases the GIL so concurrent searches run side by side.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["centroid_maxsim", "centroid_table", "probed_candidates"]


@numba.njit(cache=True, nogil=True)
def _segment_lookup_maxsim(table: np.ndarray, codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    n_segments, q = len(starts) - 1, table.shape[1]
    out = np.empty(n_segments, dtype=np.float32)
    best = np.empty(q, dtype=np.float32)
    for s in range(n_segments):
        best[:] = -np.inf
        for r in range(starts[s], starts[s + 1]):
            row = table[codes[r]]
            for i in range(q):
                if row[i] > best[i]:
                    best[i] = row[i]
        total = np.float32(0.0)
        for i in range(q):
            total += best[i]
        out[s] = total
    return out


@numba.njit(cache=True, nogil=True)
def _probed_maxsim(
    table: np.ndarray,
    probed: np.ndarray,
    starts: np.ndarray,
    postings: np.ndarray,
    offsets: np.ndarray,
    alive: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = 0
    for c in probed:
        n_rows += starts[c + 1] - starts[c]
    slot = np.full(len(offsets) - 1, -1, dtype=np.int64)
    docs = np.empty(n_rows, dtype=np.int64)
    row_slots = np.empty(n_rows, dtype=np.int64)
    found, at = 0, 0
    for c in probed:  # each row's document (binary search in the offsets), a slot per live document
        for j in range(starts[c], starts[c + 1]):
            doc = np.searchsorted(offsets, postings[j], side="right") - 1
            if alive[doc]:
                if slot[doc] < 0:
                    slot[doc] = found
                    docs[found] = doc
                    found += 1
                row_slots[at] = slot[doc]
            else:
                row_slots[at] = -1
            at += 1
    q = table.shape[1]
    best = np.full((found, q), -np.inf, dtype=np.float32)
    at = 0
    for c in probed:  # a row in list c has centroid c
        row = table[c]
        for _ in range(starts[c], starts[c + 1]):
            s = row_slots[at]
            at += 1
            if s >= 0:
                target = best[s]
                for i in range(q):
                    if row[i] > target[i]:
                        target[i] = row[i]
    scores = np.empty(found, dtype=np.float32)
    for s in range(found):
        total = np.float32(0.0)
        for i in range(q):
            total += best[s, i]
        scores[s] = total
    return docs[:found], scores


def probed_candidates(
    centroid_table: np.ndarray,
    probed: np.ndarray,
    postings: list[tuple[np.ndarray, np.ndarray]],
    offsets: np.ndarray,
    alive: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The live documents with rows in the posting lists of the `probed` centroids, ascending, and
    their scores: per query token the best similarity to the centroids of those rows, summed.

    Args:
        centroid_table: `(num_centroids, q)` similarity of each centroid to each query token
            (`centroid_table`).
        probed: `(n,)` centroid ids, each once.
        postings: per segment, the rows of each centroid as CSR `(starts, rows)`, rows numbered
            store-wide (`TokenStore.postings`).
        offsets: `(n_docs + 1,)` store-wide row offsets of the documents.
        alive: `(n_docs,)` whether each document is live.

    Returns:
        `(n_candidates,)` internal document ids and float32 scores.
    """
    table = np.ascontiguousarray(centroid_table, dtype=np.float32)
    probed = np.asarray(probed, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    alive = np.asarray(alive, dtype=np.bool_)
    parts = [
        _probed_maxsim(
            table,
            probed,
            np.asarray(starts, dtype=np.int64),
            np.asarray(rows, dtype=np.int64),
            offsets,
            alive,
        )
        for starts, rows in postings
    ]
    docs = np.concatenate([d for d, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    scores = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, dtype=np.float32)
    order = np.argsort(docs, kind="stable")  # segments hold disjoint documents
    return docs[order], scores[order]


def centroid_table(centroid_sims: np.ndarray) -> np.ndarray:
    """The kernels' layout of a query's centroid similarities `(q, num_centroids)`: contiguous
    float32 `(num_centroids, q)`, one row per centroid. Made once a search, used by both stages."""
    table: np.ndarray = np.ascontiguousarray(centroid_sims.T, dtype=np.float32)
    return table


def centroid_maxsim(centroid_table: np.ndarray, codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment of rows, the sum over query tokens of the best centroid similarity among its rows.

    Args:
        centroid_table: `(num_centroids, q)` similarity of each centroid to each query token
            (`centroid_table`).
        codes: `(n_rows,)` centroid id of each row, segments back to back.
        starts: `(n_segments + 1,)` non-decreasing row offsets, `starts[0] == 0`,
            `starts[-1] == n_rows`.

    Returns:
        `(n_segments,)` float32 scores; an empty segment scores `-inf`.

    >>> sims = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.4]], dtype=np.float32)
    >>> table = centroid_table(sims)
    >>> [round(float(s), 2) for s in centroid_maxsim(table, np.array([0, 2, 1]), np.array([0, 2, 3, 3]))]
    [1.2, 1.1, -inf]
    """
    result: np.ndarray = _segment_lookup_maxsim(
        np.ascontiguousarray(centroid_table, dtype=np.float32),
        np.asarray(codes, dtype=np.int64),
        np.asarray(starts, dtype=np.int64),
    )
    return result
