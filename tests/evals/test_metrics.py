"""Ranking metrics on hand-computed values (trec_eval conventions: linear gain, log2(rank + 1))."""

from __future__ import annotations

import doctest
import math

import pytest

import evals.metrics
from evals.metrics import mean_metric, mrr_at_k, ndcg_at_k, recall_at_k

# Three relevant documents (graded 2, 1, 1), one judged non-relevant, one judged document never retrieved.
QRELS = {"d1": 2, "d2": 1, "d4": 1, "d9": 0}
RANKING = ["d3", "d1", "d9", "d2"]


def test_doctests_pass() -> None:
    assert doctest.testmod(evals.metrics).failed == 0


def test_ndcg_hand_computed() -> None:
    # By hand: DCG@3 = 2 / log2(3) = 1.26186 (d1 at rank 2; d3 unjudged, d9 not relevant).
    # The ideal ranking comes from the qrels, not from the run: gains 2, 1, 1 ->
    # IDCG@3 = 2 / 1 + 1 / log2(3) + 1 / log2(4) = 2 + 0.63093 + 0.5 = 3.13093; nDCG@3 = 0.40303.
    assert ndcg_at_k(RANKING, QRELS, 3) == pytest.approx(0.40303, abs=1e-5)
    # At k=4, d2 adds 1 / log2(5) = 0.43068: (1.26186 + 0.43068) / (3.13093) = 0.54059.
    assert ndcg_at_k(RANKING, QRELS, 4) == pytest.approx(0.54059, abs=1e-5)


def test_ndcg_cut_also_cuts_the_ideal() -> None:
    # k=1: the ideal is the single best grade (2); a grade-1 document first scores 1/2.
    assert ndcg_at_k(["d2"], QRELS, 1) == pytest.approx(0.5)
    assert ndcg_at_k(["d1", "d2", "d4"], QRELS, 3) == pytest.approx(1.0)


def test_ndcg_uses_linear_gain_not_exponential() -> None:
    # Grades 3 then 1 vs 1 then 3: linear gain gives (1 + 3/log2(3)) / (3 + 1/log2(3)).
    qrels = {"a": 3, "b": 1}
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], qrels, 10) == pytest.approx(expected)


def test_recall_hand_computed() -> None:
    assert recall_at_k(RANKING, QRELS, 3) == pytest.approx(1 / 3)  # d1 of {d1, d2, d4}
    assert recall_at_k(RANKING, QRELS, 4) == pytest.approx(2 / 3)  # + d2
    assert recall_at_k(RANKING, QRELS, 100) == pytest.approx(2 / 3)  # d4 never retrieved


def test_mrr_hand_computed() -> None:
    assert mrr_at_k(RANKING, QRELS, 10) == pytest.approx(0.5)  # first relevant (d1) at rank 2
    assert mrr_at_k(RANKING, QRELS, 1) == 0.0
    assert mrr_at_k(["d9", "d3"], QRELS, 10) == 0.0  # judged, but relevance 0


def test_no_relevant_documents_scores_zero() -> None:
    qrels = {"d9": 0}
    assert ndcg_at_k(["d9"], qrels, 10) == 0.0
    assert recall_at_k(["d9"], qrels, 10) == 0.0
    assert mrr_at_k(["d9"], qrels, 10) == 0.0


def test_repeated_document_counts_once() -> None:
    qrels = {"a": 1, "b": 1}
    # ["a", "a", "b"] behaves as ["a", "b"]: perfect at k=2, not a double gain for "a".
    assert ndcg_at_k(["a", "a", "b"], qrels, 2) == pytest.approx(1.0)
    assert recall_at_k(["a", "a"], qrels, 10) == pytest.approx(0.5)


@pytest.mark.parametrize("metric", [ndcg_at_k, recall_at_k, mrr_at_k])
def test_bad_k_is_rejected(metric: evals.metrics.Metric) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        metric(["a"], {"a": 1}, 0)


def test_mean_counts_unanswered_queries_as_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    run = {"q1": ["a"], "q2": ["x", "b"]}  # q3 missing from the run
    assert mean_metric(mrr_at_k, run, qrels, 10) == pytest.approx((1 + 0.5 + 0) / 3)
    assert mean_metric(recall_at_k, run, qrels, 1) == pytest.approx(1 / 3)


def test_mean_needs_judged_queries() -> None:
    with pytest.raises(ValueError, match="no judged queries"):
        mean_metric(ndcg_at_k, {"q": ["a"]}, {}, 10)
