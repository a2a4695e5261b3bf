"""Ranking metrics over a run (query id -> ranked document ids), computed by `ir-measures` as
trec_eval computes them.

Conventions (those of trec_eval / pytrec_eval, which BEIR uses): gains are the graded relevance
itself (linear, not 2^rel - 1), the discount is log2(rank + 1), the ideal ranking is built from
every judged document of the query, and only relevance > 0 counts as relevant. A document id
repeated in a ranking counts once, at its first position; a judged query absent from a run scores 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ir_measures
from ir_measures import RR, Qrel, R, ScoredDoc, nDCG

__all__ = [
    "Metric",
    "mean_metric",
    "mrr_at_k",
    "ndcg_at_k",
    "per_query",
    "recall_at_k",
]

Metric = Callable[[Sequence[str], Mapping[str, int], int], float]
"""A per-query metric: (ranked doc ids, judgments doc id -> relevance, k) -> score."""


def _scores(
    measure: Any, run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int
) -> dict[str, float]:
    """`measure@k` per judged query; 0 for a query the run leaves empty or out."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    judgments = [Qrel(qid, doc_id, rel) for qid, judged in qrels.items() for doc_id, rel in judged.items()]
    scored = []
    for qid, ranking in run.items():
        if qid in qrels:
            unique = list(dict.fromkeys(ranking))  # a repeated id counts once, at its first rank
            scored += [ScoredDoc(qid, doc, float(len(unique) - rank)) for rank, doc in enumerate(unique)]
    found = {m.query_id: float(m.value) for m in ir_measures.iter_calc([measure @ k], judgments, scored)}
    return {qid: found.get(qid, 0.0) for qid in qrels}


def ndcg_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the first k results (trec_eval `ndcg_cut`).

    >>> round(ndcg_at_k(["a", "b", "c"], {"b": 1}, 10), 4)  # 1/log2(3)
    0.6309
    >>> ndcg_at_k(["a"], {"a": 0}, 10)  # nothing relevant: 0 by convention
    0.0
    """
    return _scores(nDCG, {"q": ranking}, {"q": judgments}, k)["q"]


def recall_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the first k results (trec_eval `recall`).

    >>> recall_at_k(["a", "b", "c"], {"a": 1, "c": 2, "d": 1, "e": 0}, 2)
    0.3333333333333333
    """
    return _scores(R, {"q": ranking}, {"q": judgments}, k)["q"]


def mrr_at_k(ranking: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the first k results, else 0.

    >>> mrr_at_k(["a", "b", "c"], {"c": 1}, 10)
    0.3333333333333333
    >>> mrr_at_k(["a", "b", "c"], {"c": 1}, 2)
    0.0
    """
    return _scores(RR, {"q": ranking}, {"q": judgments}, k)["q"]


_MEASURES: dict[Metric, Any] = {ndcg_at_k: nDCG, recall_at_k: R, mrr_at_k: RR}


def per_query(
    metric: Metric, run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int
) -> dict[str, float]:
    """`metric@k` of every judged query in one evaluation; a query absent from `run` scores 0.

    Args:
        metric: `ndcg_at_k`, `recall_at_k` or `mrr_at_k`.
        run: query id -> ranked document ids, best first.
        qrels: query id -> document id -> relevance.
        k: the cut-off.

    Raises:
        ValueError: `metric` is not one of this module's, or `k` < 1.

    >>> per_query(mrr_at_k, {"q1": ["a"], "q2": ["b", "c"]}, {"q1": {"a": 1}, "q2": {"c": 1}}, 10)
    {'q1': 1.0, 'q2': 0.5}
    """
    if metric not in _MEASURES:
        raise ValueError(f"not a metric of evals.metrics: {metric!r}")
    return _scores(_MEASURES[metric], run, qrels, k)


def mean_metric(
    metric: Metric, run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int
) -> float:
    """Mean of `metric@k` over every judged query; a judged query absent from `run` scores 0.

    Args:
        metric: `ndcg_at_k`, `recall_at_k` or `mrr_at_k`.
        run: query id -> ranked document ids, best first.
        qrels: query id -> document id -> relevance.
        k: the cut-off.

    Raises:
        ValueError: `qrels` is empty, `k` < 1, or `metric` is not one of this module's.

    >>> mean_metric(mrr_at_k, {"q1": ["a"], "q2": ["b", "c"]}, {"q1": {"a": 1}, "q2": {"c": 1}}, 10)
    0.75
    """
    if not qrels:
        raise ValueError("no judged queries to average over")
    scores = per_query(metric, run, qrels, k)
    return sum(scores.values()) / len(scores)
