"""The metrics on SciFact dev: BM25's nDCG@10 = 0.698, and ir-measures against a hand-written trec_eval.

The stored run (`data/scifact-dev-bm25-run.json.gz`: top 100 document ids per dev query, BM25 k1 0.9
b 0.4 over title + text) was produced by `evals.beir.search_judged` on the full corpus; the slow test
rebuilds it.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from evals.beir import quality, search_judged
from evals.datasets import load_beir, read_qrels
from evals.metrics import mean_metric, mrr_at_k, ndcg_at_k, per_query, recall_at_k
from indexers.configs import BM25Config
from indexers.registry import create_index

SCIFACT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "scifact"
STORED_RUN = Path(__file__).parent / "data" / "scifact-dev-bm25-run.json.gz"


def _qrels() -> dict[str, dict[str, int]]:
    if not (SCIFACT / "qrels" / "dev.tsv").is_file():
        pytest.skip(f"SciFact data folder absent: {SCIFACT}")
    return read_qrels(SCIFACT / "qrels" / "dev.tsv")


def _stored_run() -> dict[str, list[str]]:
    with gzip.open(STORED_RUN, "rt", encoding="utf-8") as handle:
        return json.load(handle)


# A plain trec_eval reading, kept here as the oracle the library is checked against.
def _ndcg(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    top = list(dict.fromkeys(ranking))[:k]
    dcg = sum(judged.get(d, 0) / math.log2(r + 2) for r, d in enumerate(top) if judged.get(d, 0) > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def _recall(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant & set(list(dict.fromkeys(ranking))[:k])) / len(relevant) if relevant else 0.0


def _rr(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    for rank, d in enumerate(list(dict.fromkeys(ranking))[:k], start=1):
        if judged.get(d, 0) > 0:
            return 1.0 / rank
    return 0.0


def test_stored_bm25_run_scores_0698_and_matches_the_oracle_per_query() -> None:
    qrels, run = _qrels(), _stored_run()
    assert len(qrels) == 150 and set(run) == set(qrels)
    assert round(mean_metric(ndcg_at_k, run, qrels, 10), 3) == 0.698
    for metric, oracle, k in ((ndcg_at_k, _ndcg, 10), (recall_at_k, _recall, 100), (mrr_at_k, _rr, 10)):
        got = per_query(metric, run, qrels, k)
        for qid, judged in qrels.items():
            assert got[qid] == pytest.approx(oracle(run[qid], judged, k), abs=1e-9), (metric.__name__, qid)


@pytest.mark.slow
def test_bm25_on_scifact_dev_scores_0698() -> None:
    _qrels()
    dataset = load_beir(SCIFACT, "dev")
    index = create_index(BM25Config())
    index.build(dataset.docs)
    ranked, _ = search_judged(index, dataset)
    assert round(quality(ranked, dataset)["ndcg_at_10"], 3) == 0.698
