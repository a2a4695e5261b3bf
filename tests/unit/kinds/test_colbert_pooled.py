"""Pooled ColBERT against the exact MaxSim oracle, across ANN structures and codecs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, create_index, open_index
from indexers.base import Explainable
from tests.unit.synthetic import config, recall_at_10


@pytest.mark.parametrize(
    "extra",
    [
        {"pool_factor": 1, "ann": "flat"},
        {"pool_factor": 1, "ann": "ivf", "nlist": 32, "nprobe": 8},
        {"pool_factor": 1, "ann": "hnsw"},
        {"pool_factor": 1, "ann": "flat", "vector_codec": "pq", "pq_m": 16},
    ],
)
def test_unpooled_matches_the_oracle(extra: dict, corpus: list[Doc], queries: list[str], oracle) -> None:  # type: ignore[no-untyped-def, type-arg]
    index = create_index(config("colbert_pooled", **extra))
    index.build(corpus)
    threshold = 0.8 if extra.get("vector_codec") == "pq" else 0.95
    assert recall_at_10(index, oracle, queries) >= threshold


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_pooling_cuts_vectors_and_keeps_the_target_first(
    factor: int,
    corpus: list[Doc],
    queries: list[str],
    oracle,  # type: ignore[no-untyped-def]
) -> None:
    index = create_index(config("colbert_pooled", pool_factor=factor))
    index.build(corpus)
    assert index.num_vectors <= oracle.num_vectors / factor + len(corpus)
    top1 = [hits[0].doc_id for hits in index.search(queries, k=1)]
    assert np.mean([t == f"doc{i}" for i, t in enumerate(top1)]) >= 0.8


def test_ivf_index_survives_save_load_and_incremental_add(corpus: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("colbert_pooled", ann="ivf", nlist=16))
    index.build(corpus[:200])
    index.save(tmp_path / "a")
    reopened = open_index(tmp_path / "a")
    mapped = reopened.memory_bytes()  # vectors and IVF lists are memory-mapped, not counted
    assert 0 < mapped < index.memory_bytes() / 2
    reopened.add(corpus[200:])  # into a new in-memory segment: the saved files stay as they are, mapped
    assert reopened.num_docs == 300
    assert mapped < reopened.memory_bytes() < index.memory_bytes()
    assert open_index(tmp_path / "a").num_docs == 200
    probe = " ".join(corpus[250].text.split()[:8])
    assert reopened.search([probe], k=1)[0][0].doc_id == "doc250"


def test_explain_lists_a_match_per_query_token(tiny_docs: list[Doc]) -> None:
    index = create_index(config("colbert_pooled", pool_factor=1))
    index.build(tiny_docs)
    assert isinstance(index, Explainable)
    matches = index.explain("insulin glucose volcano", "d01")
    assert [m.query_token for m in matches] == ["insulin", "glucose", "volcano"]
    assert matches[0].doc_token == "insulin" and matches[0].score > 0.95
    assert matches[2].score < 0.5
