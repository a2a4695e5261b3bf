"""Fusion of ranked lists: weighted reciprocal rank fusion of ids, or weighted sums of per-list
normalised scores (min-max or z-score)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["SCORE_FUSIONS", "normalised_sum", "rrf"]

SCORE_FUSIONS = ("minmax", "zscore")
"""The per-list score normalisations `normalised_sum` knows."""


def rrf(
    rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float], k: int
) -> list[tuple[str, float]]:
    """Fuse ranked lists: an id scores the sum over lists of `weights[list] / (k + rank)`, ranks from 1.

    Args:
        rankings: list name -> ids, best first.
        weights: a weight for every list name in `rankings`.
        k: the rank offset (small: the top ranks count most).

    Returns:
        (id, fused score) pairs, best first; ties in id order.

    Raises:
        ValueError: a ranking has no weight.
    """
    if missing := sorted(set(rankings) - set(weights)):
        raise ValueError(f"no fusion weight for {missing[0]!r}")
    fused: dict[str, float] = {}
    for name, ids in rankings.items():
        weight = weights[name]
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def _normalise(scores: Sequence[float], method: str) -> list[float]:
    if method == "minmax":
        low, high = min(scores), max(scores)
        return [(s - low) / (high - low) for s in scores] if high > low else [1.0] * len(scores)
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [(s - mean) / std for s in scores] if std > 0 else [0.0] * len(scores)


def normalised_sum(
    results: Mapping[str, Sequence[tuple[str, float]]],
    weights: Mapping[str, float],
    method: Literal["minmax", "zscore"],
) -> list[tuple[str, float]]:
    """Fuse scored lists: each list's scores are normalised on their own (`minmax`: to [0, 1];
    `zscore`: minus their mean, over their standard deviation), and an id scores the sum over lists
    of `weights[list] x` its normalised score there, or that list's lowest normalised score where the
    list lacks it. Ids come from the lists with a weight above 0.

    Args:
        results: list name -> (id, score) pairs, best first (higher scores are better).
        weights: a weight for every list name in `results`.
        method: `minmax` or `zscore`.

    Returns:
        (id, fused score) pairs, best first; ties in id order.

    Raises:
        ValueError: a list has no weight, or the method is unknown.
    """
    if missing := sorted(set(results) - set(weights)):
        raise ValueError(f"no fusion weight for {missing[0]!r}")
    if method not in SCORE_FUSIONS:
        raise ValueError(f"unknown score fusion {method!r}; known: {', '.join(SCORE_FUSIONS)}")
    normalised: dict[str, tuple[dict[str, float], float]] = {}
    for name, hits in results.items():
        if weights[name] > 0 and hits:
            values = _normalise([score for _, score in hits], method)
            normalised[name] = (dict(zip((item for item, _ in hits), values, strict=True)), min(values))
    pool = {item for found, _ in normalised.values() for item in found}
    fused = {
        item: sum(weights[name] * found.get(item, lowest) for name, (found, lowest) in normalised.items())
        for item in pool
    }
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
