"""Weighted reciprocal rank fusion."""

from __future__ import annotations

import pytest

from indexers.scoring.fusion import rrf


def test_rrf_by_hand() -> None:
    fused = rrf({"a": ["x", "y"], "b": ["y", "z"]}, {"a": 1.0, "b": 2.0}, 1)
    assert fused == [("y", 1 / 3 + 2 / 2), ("z", 2 / 3), ("x", 1 / 2)]


def test_ties_go_in_id_order_and_a_zero_weight_adds_nothing() -> None:
    fused = rrf(
        {"dense": ["b", "a"], "lexical": ["a", "b"], "symbolic": ["c"]},
        {"dense": 1.0, "lexical": 1.0, "symbolic": 0.0},
        0,
    )
    assert fused == [("a", pytest.approx(1 / 2 + 1)), ("b", pytest.approx(1 + 1 / 2)), ("c", 0.0)]


def test_every_ranking_needs_a_weight() -> None:
    with pytest.raises(ValueError, match="'b'"):
        rrf({"a": ["x"], "b": ["y"]}, {"a": 1.0}, 60)
