"""XTR index: exactness when every token is retrieved, agreement with the oracle, explanations,
compact storage and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, create_index, open_index, parse_config
from indexers.base import Explainable
from indexers.errors import DocumentNotFound, InvalidConfig
from indexers.kinds.xtr import IMPUTED_TOKEN
from tests.unit.synthetic import config, recall_at_10


def test_retrieving_every_token_gives_exact_maxsim(tiny_docs: list[Doc]) -> None:
    exact = create_index(config("exact"))
    exact.build(tiny_docs)
    xtr = create_index(config("xtr", ann="flat", candidate_tokens=exact.num_vectors))
    xtr.build(tiny_docs)
    query = ["does insulin lower blood glucose in diabetes"]
    want = exact.search(query, k=20)[0]
    got = xtr.search(query, k=20)[0]
    assert [h.doc_id for h in got] == [h.doc_id for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=2e-3)  # exact keeps float16


@pytest.mark.parametrize(
    ("extra", "threshold"),
    [
        ({"ann": "flat", "candidate_tokens": 256}, 0.9),
        ({"ann": "ivf", "nlist": 32, "nprobe": 8, "candidate_tokens": 256}, 0.8),
    ],
)
def test_top10_agrees_with_the_oracle(extra: dict, threshold: float, corpus, queries, oracle) -> None:  # type: ignore[no-untyped-def, type-arg]
    index = create_index(config("xtr", **extra))
    index.build(corpus)
    assert recall_at_10(index, oracle, queries) >= threshold
    top1 = [hits[0].doc_id for hits in index.search(queries, k=10)]
    assert np.mean([t == f"doc{i}" for i, t in enumerate(top1)]) >= 0.9


def test_store_keeps_no_vectors_and_ivf_pq_is_smaller(corpus: list[Doc], tmp_path: Path) -> None:
    sizes = {}
    for ann in ("ivf", "ivf_pq"):
        index = create_index(config("xtr", ann=ann, nlist=8, pq_m=8))
        index.build(corpus[:150])
        assert index.store.rows.shape == (index.num_vectors, 0)
        index.save(tmp_path / ann)
        sizes[ann] = sum(p.stat().st_size for p in (tmp_path / ann).iterdir())
        reopened = open_index(tmp_path / ann)
        probe = " ".join(corpus[123].text.split()[:8])
        assert reopened.search([probe], k=1)[0][0].doc_id == "doc123"
    vectors = index.num_vectors
    assert sizes["ivf"] < vectors * (64 + 16) + 100_000  # 8-bit codes: dim bytes + id and token id
    assert sizes["ivf_pq"] < sizes["ivf"] / 2


def test_explain_names_retrieved_tokens_imputes_the_rest_and_sums_to_the_score(tiny_docs: list[Doc]) -> None:
    index = create_index(config("xtr", ann="flat", candidate_tokens=4))
    index.build(tiny_docs)
    assert isinstance(index, Explainable)
    query = "insulin glucose volcano"
    hit = index.search([query], k=1)[0][0]
    assert hit.doc_id == "d01"
    matches = index.explain(query, "d01")
    assert [m.query_token for m in matches] == ["insulin", "glucose", "volcano"]
    assert matches[0].doc_token == "insulin" and matches[0].score > 0.95
    assert matches[2].doc_token == IMPUTED_TOKEN  # d01 has no volcano
    assert sum(m.score for m in matches) == pytest.approx(hit.score, abs=1e-5)
    with pytest.raises(DocumentNotFound):
        index.explain(query, "no-such-doc")


def test_k_prime_above_the_indexed_tokens_is_a_clear_error(tiny_docs: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("xtr", candidate_tokens=10_000 // 2))
    index.build(tiny_docs)
    with pytest.raises(InvalidConfig, match=r"candidate_tokens \(k'\) = 5000 exceeds the \d+ token vectors"):
        index.search(["insulin"], k=3)
    with pytest.raises(InvalidConfig):
        index.explain("insulin", "d01")
    index.save(tmp_path / "idx")  # nothing was changed: the index still saves and reopens
    assert open_index(tmp_path / "idx").num_docs == 20


def test_empty_index_searches_to_nothing_and_explains_nothing(tmp_path: Path) -> None:
    index = create_index(config("xtr"))
    index.build([])
    assert index.search(["insulin"], k=3) == [[]]
    with pytest.raises(DocumentNotFound):
        index.explain("insulin", "d01")
    index.save(tmp_path / "empty")
    assert open_index(tmp_path / "empty").search(["insulin"], k=3) == [[]]


def test_config_rejects_bad_k_prime_and_structure() -> None:
    with pytest.raises(InvalidConfig, match="candidate_tokens"):
        parse_config({"kind": "xtr", "candidate_tokens": 0})
    with pytest.raises(InvalidConfig, match="ann"):
        parse_config({"kind": "xtr", "ann": "lsh"})


def test_ivf_pq_with_a_non_dividing_pq_m_is_rejected(corpus: list[Doc]) -> None:
    index = create_index(config("xtr", ann="ivf_pq", pq_m=7))
    with pytest.raises(InvalidConfig, match="pq_m=7"):
        index.build(corpus)
    assert index.num_docs == 0
