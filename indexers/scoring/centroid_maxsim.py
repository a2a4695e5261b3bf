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

__all__ = ["centroid_maxsim"]


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


def centroid_maxsim(centroid_sims: np.ndarray, codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment of rows, the sum over query tokens of the best centroid similarity among its rows.

    Args:
        centroid_sims: `(q, num_centroids)` similarity of each query token to each centroid.
        codes: `(n_rows,)` centroid id of each row, segments back to back.
        starts: `(n_segments + 1,)` non-decreasing row offsets, `starts[0] == 0`,
            `starts[-1] == n_rows`.

    Returns:
        `(n_segments,)` float32 scores; an empty segment scores `-inf`.

    >>> sims = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.4]], dtype=np.float32)
    >>> [round(float(s), 2) for s in centroid_maxsim(sims, np.array([0, 2, 1]), np.array([0, 2, 3, 3]))]
    [1.2, 1.1, -inf]
    """
    table = np.ascontiguousarray(centroid_sims.T, dtype=np.float32)  # (num_centroids, q)
    result: np.ndarray = _segment_lookup_maxsim(
        table, np.asarray(codes, dtype=np.int64), np.asarray(starts, dtype=np.int64)
    )
    return result
