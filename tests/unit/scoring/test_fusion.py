"""Weighted reciprocal rank fusion and normalised score fusion."""

from __future__ import annotations

import pytest

from indexers.scoring.fusion import normalised_sum, rrf


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


def test_min_max_fusion_by_hand() -> None:
    fused = normalised_sum(
        {"a": [("x", 10.0), ("y", 5.0), ("z", 0.0)], "b": [("z", 0.9), ("y", 0.8), ("x", 0.1)]},
        {"a": 1.0, "b": 1.0},
        "minmax",
    )
    assert fused == [("y", pytest.approx(0.5 + 0.875)), ("x", 1.0), ("z", 1.0)]  # x, z tie: id order


def test_z_score_fusion_fills_a_missing_id_with_the_lists_lowest() -> None:
    fused = dict(
        normalised_sum(
            {"a": [("x", 3.0), ("y", 1.0)], "b": [("w", 2.0), ("y", 0.0)]}, {"a": 2.0, "b": 1.0}, "zscore"
        )
    )
    # a: x +1, y -1; b: w +1, y -1; x lacks b (b's lowest, -1), w lacks a (-1)
    assert fused == {"x": pytest.approx(2 - 1), "y": pytest.approx(-2 - 1), "w": pytest.approx(-2 + 1)}


def test_score_fusion_leaves_out_zero_weights_and_flat_lists() -> None:
    fused = normalised_sum({"a": [("x", 1.0), ("y", 1.0)], "b": [("z", 5.0)]}, {"a": 1.0, "b": 0.0}, "zscore")
    assert fused == [("x", 0.0), ("y", 0.0)]
    assert normalised_sum({"a": [("x", 2.0)]}, {"a": 1.0}, "minmax") == [("x", 1.0)]
    with pytest.raises(ValueError, match="'b'"):
        normalised_sum({"a": [], "b": []}, {"a": 1.0}, "minmax")
    with pytest.raises(ValueError, match="borda"):
        normalised_sum({"a": []}, {"a": 1.0}, "borda")  # type: ignore[arg-type]
