"""Paired comparison of two systems scored on the same items (queries, questions)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["paired_comparison"]


def paired_comparison(
    ours: Mapping[str, float], baseline: Mapping[str, float], rounds: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Per-item comparison of two runs (item id -> score): mean difference, wins / losses / ties,
    and the two-sided p-value of a paired sign-flip randomization test on the mean difference."""
    diffs = np.array([ours[q] - baseline[q] for q in sorted(baseline)])
    flips = np.random.default_rng(seed).choice([-1.0, 1.0], size=(rounds, len(diffs)))
    extreme = np.abs((flips * diffs).mean(axis=1)) >= abs(diffs.mean()) - 1e-12
    return {
        "mean_diff": float(diffs.mean()),
        "wins": int((diffs > 0).sum()),
        "losses": int((diffs < 0).sum()),
        "ties": int((diffs == 0).sum()),
        "p_value": float((extreme.sum() + 1) / (rounds + 1)),
    }
