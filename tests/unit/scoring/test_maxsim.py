"""MaxSim math on hand-made tensors: shapes, hand-computed values, then masking of empty documents."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.scoring.maxsim import maxsim_matches, maxsim_scores, segment_max

Q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
DOCS = np.array(
    [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0], [0.8, -0.6]],
    dtype=np.float32,
)
OFFSETS = np.array([0, 2, 3, 5])


def test_shapes() -> None:
    assert maxsim_scores(Q, DOCS, OFFSETS).shape == (3,)
    assert segment_max(DOCS @ Q.T, OFFSETS).shape == (3, 2)
    assert maxsim_scores(Q, DOCS[:0], np.array([0])).shape == (0,)


def test_hand_computed_values() -> None:
    # doc0 rows (1,0),(0.6,0.8): q0 max 1.0, q1 max 0.8 -> 1.8
    # doc1 row (0,1): q0 0.0, q1 1.0 -> 1.0
    # doc2 rows (-1,0),(0.8,-0.6): q0 0.8, q1 0.0 -> 0.8
    assert maxsim_scores(Q, DOCS, OFFSETS) == pytest.approx([1.8, 1.0, 0.8])


def test_empty_documents_score_minus_infinity() -> None:
    scores = maxsim_scores(Q, DOCS, np.array([0, 2, 2, 5]))
    assert scores[0] == pytest.approx(1.8)
    assert scores[1] == -np.inf
    assert scores[2] == pytest.approx(1.8)  # rows (0,1),(-1,0),(0.8,-0.6): 0.8 + 1.0


def test_matches_point_at_best_document_vector() -> None:
    best, sims = maxsim_matches(Q, DOCS[:2])
    assert best.tolist() == [0, 1]
    assert sims == pytest.approx([1.0, 0.8])
