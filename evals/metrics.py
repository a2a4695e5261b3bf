"""Ranking metrics over a run (query id -> ranked document ids), computed like trec_eval.

Conventions (those of pytrec_eval, which BEIR uses): gains are the graded relevance itself
(linear, not 2^rel - 1), the discount is log2(rank + 1), the ideal ranking is built from every
judged document of the query, and only relevance > 0 counts as relevant. A document id repeated
in a ranking counts once, at its first position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "Metric",
    "mean_metric",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
]

Metric = Callable[[Sequence[str], Mapping[str, int], int], float]
"""A per-query metric: (ranked doc ids, judgments doc id -> relevance, k) -> score."""


def _top_k(ranking: Sequence[str], k: int) -> list[str]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return list(dict.fromkeys(ranking))[:k]


def ndcg_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the first k results.

    >>> round(ndcg_at_k(["a", "b", "c"], {"b": 1}, 10), 4)  # 1/log2(3)
    0.6309
    >>> ndcg_at_k(["a"], {"a": 0}, 10)  # nothing relevant: 0 by convention
    0.0
    """
    dcg = sum(
        judgments.get(doc_id, 0) / math.log2(rank + 2)
        for rank, doc_id in enumerate(_top_k(ranking, k))
        if judgments.get(doc_id, 0) > 0
    )
    ideal = sorted((rel for rel in judgments.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the first k results.

    >>> recall_at_k(["a", "b", "c"], {"a": 1, "c": 2, "d": 1, "e": 0}, 2)
    0.3333333333333333
    """
    relevant = {doc_id for doc_id, rel in judgments.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top_k(ranking, k))) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the first k results, else 0.

    >>> mrr_at_k(["a", "b", "c"], {"c": 1}, 10)
    0.3333333333333333
    >>> mrr_at_k(["a", "b", "c"], {"c": 1}, 2)
    0.0
    """
    for rank, doc_id in enumerate(_top_k(ranking, k), start=1):
        if judgments.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def mean_metric(
    metric: Metric, run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int
) -> float:
    """Mean of `metric@k` over every judged query; a judged query absent from `run` scores 0.

    Args:
        metric: one of the per-query metrics of this module.
        run: query id -> ranked document ids, best first.
        qrels: query id -> document id -> relevance.
        k: the cut-off.

    Raises:
        ValueError: `qrels` is empty or `k` < 1.

    >>> mean_metric(mrr_at_k, {"q1": ["a"], "q2": ["b", "c"]}, {"q1": {"a": 1}, "q2": {"c": 1}}, 10)
    0.75
    """
    if not qrels:
        raise ValueError("no judged queries to average over")
    return sum(metric(run.get(qid, ()), judged, k) for qid, judged in qrels.items()) / len(qrels)
