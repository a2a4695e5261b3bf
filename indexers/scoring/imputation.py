"""Scoring documents from retrieved tokens only, with XTR's missing-similarity imputation.

Each query token `i` retrieves its top-k' document tokens from a token ANN, with similarities
`s_i1 >= ... >= s_ik'`. A candidate document `d` (one that owns at least one retrieved token) scores

    score(d) = sum_i ( max of s_ij over the retrieved tokens j of d,   if query token i retrieved one
                       m_i,                                           otherwise )

where `m_i`, the imputed similarity, is the lowest similarity query token `i` retrieved (its k'-th
score when k' tokens came back): an upper bound of the similarity it would have found in `d`. No
document vector is read. XTR (`xtr`) ranks with this score alone; token-pooled ColBERT
(`colbert_pooled`) uses it to choose which documents to re-score with exact MaxSim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RetrievedScores", "imputed_similarity", "score_retrieved"]


@dataclass(frozen=True, slots=True)
class RetrievedScores:
    """Candidate documents and their scores from retrieved tokens.

    Attributes:
        docs: `(n,)` internal document ids, ascending.
        per_token: `(n, q)` float32: each query token's contribution (retrieved or imputed).
        scores: `(n,)` float32: `per_token.sum(axis=1)`.
    """

    docs: np.ndarray
    per_token: np.ndarray
    scores: np.ndarray


def imputed_similarity(sims: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """The similarity imputed per query token: its lowest retrieved similarity, 0 if it retrieved none.

    Args:
        sims: `(q, k')` similarities of the retrieved tokens.
        docs: `(q, k')` owning document of each retrieved token, -1 where the slot is empty.

    Returns:
        `(q,)` float32.

    >>> imputed_similarity(np.array([[0.9, 0.5], [0.7, 0.0]]), np.array([[3, 4], [3, -1]])).tolist()
    [0.5, 0.699999988079071]
    """
    valid = docs >= 0
    lowest = np.where(valid, sims, np.inf).min(axis=1)
    return np.where(valid.any(axis=1), lowest, 0.0).astype(np.float32)


def score_retrieved(sims: np.ndarray, docs: np.ndarray, alive: np.ndarray | None = None) -> RetrievedScores:
    """Score every document that owns a retrieved token, imputing what was not retrieved.

    Args:
        sims: `(q, k')` similarities of the retrieved tokens, one row per query token.
        docs: `(q, k')` internal id of the document owning each retrieved token, -1 for empty slots.
        alive: optional `(n_ids,)` boolean mask; documents where it is False are not candidates
            (their tokens still set the imputed similarity: they were retrieved).

    Returns:
        The candidates (possibly none) with per-token contributions and scores.
    """
    q_index, slot = np.nonzero(docs >= 0)
    owners = docs[q_index, slot]
    if alive is not None:
        live = alive[owners]
        q_index, slot, owners = q_index[live], slot[live], owners[live]
    candidates, position = np.unique(owners, return_inverse=True)
    per_token = np.tile(imputed_similarity(sims, docs), (len(candidates), 1))
    # a retrieved similarity is never below its query token's imputed one, so max() picks it
    np.maximum.at(per_token, (position, q_index), sims[q_index, slot].astype(np.float32))
    return RetrievedScores(docs=candidates, per_token=per_token, scores=per_token.sum(axis=1))
