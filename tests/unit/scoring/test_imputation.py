"""XTR scoring from retrieved tokens on hand-made arrays: shapes, hand-computed values, masking."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.scoring.imputation import imputed_similarity, score_retrieved

# 2 query tokens, k' = 3. Query token 0 retrieved tokens of docs 0, 1, 0; query token 1 of docs 2, 0
# and an empty slot (-1).
SIMS = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, 0.0]], dtype=np.float32)
DOCS = np.array([[0, 1, 0], [2, 0, -1]])


def test_shapes_and_candidate_order() -> None:
    result = score_retrieved(SIMS, DOCS)
    assert result.docs.tolist() == [0, 1, 2]
    assert result.per_token.shape == (3, 2)
    assert result.scores.shape == (3,)
    assert result.scores.dtype == np.float32


def test_imputed_similarity_is_the_lowest_retrieved_and_ignores_empty_slots() -> None:
    assert imputed_similarity(SIMS, DOCS).tolist() == pytest.approx([0.7, 0.5])
    assert imputed_similarity(SIMS, np.full_like(DOCS, -1)).tolist() == [0.0, 0.0]


def test_hand_computed_scores() -> None:
    result = score_retrieved(SIMS, DOCS)
    # doc 0: token 0 retrieved it twice (max 0.9); token 1 retrieved it (0.5)     -> 1.4
    # doc 1: token 0 retrieved it (0.8); token 1 did not: imputed 0.5             -> 1.3
    # doc 2: token 0 did not: imputed 0.7; token 1 retrieved it (0.6)             -> 1.3
    np.testing.assert_allclose(result.per_token, [[0.9, 0.5], [0.8, 0.5], [0.7, 0.6]], rtol=1e-6)
    assert result.scores.tolist() == pytest.approx([1.4, 1.3, 1.3])


def test_dead_documents_are_no_candidates_but_still_set_the_imputed_value() -> None:
    alive = np.array([True, False, True])
    result = score_retrieved(SIMS, DOCS, alive)
    assert result.docs.tolist() == [0, 2]
    # doc 1 is dead, yet query token 0 retrieved its token: the imputed value stays 0.7
    np.testing.assert_allclose(result.per_token, [[0.9, 0.5], [0.7, 0.6]], rtol=1e-6)


def test_nothing_retrieved_gives_no_candidates() -> None:
    result = score_retrieved(SIMS, np.full_like(DOCS, -1))
    assert len(result.docs) == 0 and result.per_token.shape == (0, 2) and len(result.scores) == 0


def test_imputation_equals_exact_maxsim_when_every_token_is_retrieved() -> None:
    rng = np.random.default_rng(0)
    query = rng.standard_normal((4, 8)).astype(np.float32)
    doc_vectors = rng.standard_normal((10, 8)).astype(np.float32)
    owner = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    all_sims = query @ doc_vectors.T
    order = np.argsort(-all_sims, axis=1)  # k' = every token: nothing is imputed
    result = score_retrieved(np.take_along_axis(all_sims, order, axis=1), owner[order])
    exact = [all_sims[:, owner == d].max(axis=1).sum() for d in range(4)]
    assert result.scores.tolist() == pytest.approx(exact, rel=1e-5)
