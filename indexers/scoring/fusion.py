"""Weighted reciprocal rank fusion of ranked id lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["rrf"]


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
