"""Paired comparison of two systems on the same items."""

from __future__ import annotations

import pytest

from evals.paired import paired_comparison


def test_paired_comparison_counts_queries_and_tests_the_mean_difference() -> None:
    baseline = {f"q{i}": 0.5 for i in range(40)}
    better = dict.fromkeys(baseline, 0.6)  # every query gains: p is as small as the rounds allow
    c = paired_comparison(better, baseline, rounds=2000)
    assert c["wins"] == 40 and c["losses"] == 0 and c["mean_diff"] == pytest.approx(0.1)
    assert c["p_value"] < 0.001
    mixed = {q: 0.5 + (0.1 if i % 2 else -0.1) for i, q in enumerate(baseline)}  # no net gain
    c = paired_comparison(mixed, baseline, rounds=2000)
    assert (c["wins"], c["losses"], c["ties"]) == (20, 20, 0) and c["p_value"] > 0.5
