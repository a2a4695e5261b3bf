"""SLIM: sparse token store, quantised Lucene impacts, sparse late-interaction refinement, explanations,
bad input. Fake-encoder tests for the index logic, plus one on the packaged SPLADE-tiny."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from indexers.base import Doc, Explainable, ExplainsTerms
from indexers.configs import EncoderConfig, SlimConfig
from indexers.errors import DocumentNotFound, InvalidConfig
from indexers.kinds.slim import SlimIndex, quantise
from indexers.registry import open_index
from indexers.scoring.maxsim import sparse_maxsim
from indexers.storage.sparse_store import SparseStore, concat_ranges, csr_from_top_k, top_k_rows

FAKE = EncoderConfig(model="fake:hash", batch_size=8)


def slim(**fields: object) -> SlimIndex:
    return SlimIndex(SlimConfig(encoder=FAKE, **fields))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(tiny_docs: list[Doc]) -> SlimIndex:
    index = slim()
    index.build(tiny_docs)
    return index


def test_csr_helpers_drop_zeros_and_keep_the_largest() -> None:
    rows = csr_from_top_k(np.array([[3, 1], [0, 2]]), np.array([[0.5, 0.0], [0.0, 0.0]]), 4)
    assert rows.toarray().tolist() == [[0.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]]
    assert top_k_rows(np.array([[0.1, 0.7, 0.0, 0.3]]), 2).toarray().tolist() == [
        [0.0, pytest.approx(0.7), 0.0, pytest.approx(0.3)]
    ]
    assert concat_ranges(np.array([4, 0]), np.array([3, 1])).tolist() == [4, 5, 6, 0]


def test_sparse_store_gathers_documents_and_round_trips(tmp_path: Path) -> None:
    store = SparseStore(vocab_size=10)
    doc0 = sp.csr_matrix(np.array([[0, 1.5, 0, 0, 0, 0, 0, 0, 0, 2.0]], dtype=np.float32))
    doc1 = sp.csr_matrix(np.zeros((0, 10), dtype=np.float32))
    doc2 = sp.csr_matrix(np.eye(10, dtype=np.float32)[[3, 7]] * 0.25)
    store.append([doc0, doc1, doc2], [np.array([11]), np.array([], dtype=np.int32), np.array([12, 13])])
    assert store.indices.dtype == np.uint16 and store.data.dtype == np.float16
    rows, offsets = store.gather(np.array([2, 0, 1]))
    assert offsets.tolist() == [0, 2, 3, 3]
    assert np.allclose(rows.toarray(), np.vstack([doc2.toarray(), doc0.toarray()]))
    store.save(tmp_path, "x")
    loaded = SparseStore.load(tmp_path, "x", 10)
    assert isinstance(loaded.data, np.memmap)
    assert loaded.token_ids[loaded.doc_rows(2)].tolist() == [12, 13]
    (tmp_path / "x_offsets.npy").unlink()
    with pytest.raises(Exception, match="unreadable sparse store"):
        SparseStore.load(tmp_path, "x", 10)


def test_quantise_and_sparse_maxsim_by_hand() -> None:
    assert quantise(sp.csr_matrix(np.array([[0.0, 0.004, 1.236, 2.0]])), 100.0) == {"2": 124, "3": 200}
    query = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]]))
    docs = sp.csr_matrix(np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [0.0, 1.0, 1.0]]))
    # doc 0 = rows 0-1: token 0 -> max(3, 0) = 3, token 1 -> max(2, 5) = 5; doc 1 = row 2: 0 + 3
    assert sparse_maxsim(query, docs, np.array([0, 2, 3, 3])).tolist() == [8.0, 3.0, 0.0]


def test_refined_scores_equal_brute_force_late_interaction(built: SlimIndex, tiny_docs: list[Doc]) -> None:
    query = "insulin lowers blood glucose"
    hits = built.search([query], k=5)[0]
    encoded = built.encoder.encode([query], is_query=True, top_k=built.config.token_top_k)[0]
    q = csr_from_top_k(encoded.indices, encoded.values, built.encoder.vocab_size)
    internal = np.arange(built.docs.size)
    rows, offsets = built.store.gather(internal)  # type: ignore[union-attr]
    oracle = sparse_maxsim(q, rows, offsets)
    matching = {built.docs.ext_ids[i]: float(oracle[i]) for i in np.flatnonzero(oracle > 0)}
    assert len(matching) >= 3  # every document that shares a term is a first-stage candidate
    assert {h.doc_id: h.score for h in hits} == pytest.approx(
        dict(sorted(matching.items(), key=lambda item: -item[1])[:5]), rel=1e-3
    )


def test_first_stage_scores_are_quantised_dot_products(tiny_docs: list[Doc]) -> None:
    index = slim(refine=False, impact_scale=10.0)
    index.build(tiny_docs)
    hit = index.search(["insulin"], k=1)[0][0]
    assert hit.doc_id == "d01"
    q = index._impacts(index._token_rows(index.encoder.encode(["insulin"], is_query=True)[0]))
    rows = index.store.rows(index.store.doc_rows(index.docs.by_ext["d01"]))  # type: ignore[union-attr]
    d = index._impacts(rows)
    expected = sum(w * d.get(t, 0) for t, w in q.items()) / 100.0
    assert hit.score == pytest.approx(expected)


def test_refinement_reorders_within_the_candidates(tiny_docs: list[Doc]) -> None:
    first = slim(refine=False)
    first.build(tiny_docs)
    refined = slim(candidates=3)
    refined.build(tiny_docs)
    query = ["insulin glucose diabetes blood"]
    candidates = {h.doc_id for h in first.search(query, k=3)[0]}
    assert {h.doc_id for h in refined.search(query, k=10)[0]} <= candidates


def test_empty_sparse_vectors_are_documented_behaviour(tiny_docs: list[Doc]) -> None:
    index = slim()
    index.build([*tiny_docs, Doc(id="symbols", text="!!! ??? ...")])
    assert index.num_docs == 21
    assert index.search(["?!"], k=5) == [[]]  # a query of symbols: no hits
    assert all("symbols" not in [h.doc_id for h in hits] for hits in index.search(["insulin"], k=21))
    assert index.explain_terms("insulin", "symbols") == []
    index.delete(["symbols"])
    assert index.num_docs == 20


def test_explanations_name_tokens_and_vocabulary_terms(built: SlimIndex) -> None:
    assert isinstance(built, Explainable) and isinstance(built, ExplainsTerms)
    matches = built.explain("insulin diabetes zebra", "d01")
    assert [m.query_token for m in matches] == ["insulin", "diabetes", "zebra"]
    assert matches[0].doc_token == "insulin" and matches[0].score > 0
    assert matches[2].score == 0.0 and matches[2].doc_token == ""
    terms = built.explain_terms("insulin diabetes", "d01", limit=3)
    assert terms[0].term in {"insulin", "diabetes"}
    assert [t.score for t in terms] == sorted((t.score for t in terms), reverse=True)
    assert all(t.score > 0 for t in terms)
    total = sum(t.score for t in built.explain_terms("insulin diabetes", "d01", limit=100))
    score = next(h.score for h in built.search(["insulin diabetes"], k=20)[0] if h.doc_id == "d01")
    assert total == pytest.approx(score, rel=1e-3)  # the terms' shares add up to the refined score
    with pytest.raises(DocumentNotFound):
        built.explain_terms("insulin", "nope")


def test_saved_index_with_another_vocabulary_is_rejected(built: SlimIndex, tmp_path: Path) -> None:
    built.save(tmp_path / "v1")
    meta = json.loads((tmp_path / "v1" / "slim.json").read_text())
    (tmp_path / "v1" / "slim.json").write_text(json.dumps({**meta, "vocab": "30522:another-model"}))
    reopened = open_index(tmp_path / "v1")
    with pytest.raises(InvalidConfig, match="rebuild the index"):
        reopened.search(["insulin"], k=3)


def test_packaged_splade_tiny_end_to_end(tiny_docs: list[Doc], tmp_path: Path) -> None:
    index = SlimIndex(SlimConfig(encoder=EncoderConfig(model="splade-tiny", batch_size=8)))
    index.build(tiny_docs)
    results = index.search(["does insulin lower blood glucose", "smoking causes lung cancer"], k=3)
    assert [hits[0].doc_id for hits in results] == ["d01", "d04"]
    terms = index.explain_terms("does insulin lower blood glucose", "d01", limit=5)
    assert "insulin" in [t.term for t in terms]
    assert index.vocab_fingerprint is not None and index.vocab_fingerprint.startswith("30522:")
    index.save(tmp_path / "v")
    assert open_index(tmp_path / "v").search(["insulin"], k=1)[0][0].doc_id == "d01"
