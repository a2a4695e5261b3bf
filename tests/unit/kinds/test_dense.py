"""Dense single-vector retrieval in FAISS: fake encoder for behaviour, MiniLM once for real scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.base import Doc
from indexers.configs import DenseConfig
from indexers.errors import CorruptIndex, InvalidInput
from indexers.kinds.dense import DenseIndex
from indexers.registry import open_index

FAKE = {"model": "fake:hash", "batch_size": 8}
ANN = ["flat", "hnsw"]


def make(ann: str = "flat", **encoder: object) -> DenseIndex:
    return DenseIndex(DenseConfig(encoder={**FAKE, **encoder}, ann=ann))


@pytest.fixture(params=ANN)
def built(request: pytest.FixtureRequest, tiny_docs: list[Doc]) -> DenseIndex:
    index = make(request.param)
    index.build(tiny_docs)
    return index


def top_ids(index: DenseIndex, query: str, k: int = 10) -> list[str]:
    return [hit.doc_id for hit in index.search([query], k=k)[0]]


def test_obvious_document_first_sorted_with_metadata(built: DenseIndex) -> None:
    results = built.search(["insulin diabetes", "honey bees pollinate crops"], k=4)
    assert [hits[0].doc_id for hits in results] == ["d01", "d17"]
    for hits in results:
        assert len(hits) == 4
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)
    assert results[0][0].metadata == {"topic": "medicine", "year": 2019}


def test_scores_are_cosine_of_encoder_vectors(built: DenseIndex, tiny_docs: list[Doc]) -> None:
    hits = built.search(["blood glucose"], k=20)[0]
    assert len(hits) == 20
    query = built.encoder.encode_dense(["blood glucose"], is_query=True)[0]
    docs = built.encoder.encode_dense([d.full_text for d in tiny_docs], is_query=False)
    expected = dict(zip([d.id for d in tiny_docs], docs @ query, strict=True))
    for hit in hits:
        assert hit.score == pytest.approx(float(expected[hit.doc_id]), abs=1e-5)


def test_progress_is_reported(tiny_docs: list[Doc]) -> None:
    calls: list[tuple[int, int]] = []
    make().build(tiny_docs, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (20, 20)
    assert len(calls) == 3  # batch_size 8


def test_delete_removes(built: DenseIndex) -> None:
    built.delete(["d01", "no-such-doc"])
    assert "d01" not in top_ids(built, "insulin diabetes", k=20)
    assert built.num_docs == 19
    assert len(built.search(["insulin diabetes"], k=20)[0]) == 19


def cosine(index: DenseIndex, query: str, text: str) -> float:
    q = index.encoder.encode_dense([query], is_query=True)[0]
    return float(index.encoder.encode_dense([text], is_query=False)[0] @ q)


def test_readd_replaces_text_and_metadata(built: DenseIndex) -> None:
    new = Doc("d01", "volcanic ash clouds ground flights", "Volcano ash", {"topic": "geology"})
    built.add([new])
    hits = built.search([new.full_text], k=20)[0]
    assert hits[0].doc_id == "d01" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata == {"topic": "geology"}
    assert [h.doc_id for h in hits].count("d01") == 1
    old_query = {h.doc_id: h.score for h in built.search(["insulin diabetes"], k=20)[0]}
    assert old_query["d01"] == pytest.approx(cosine(built, "insulin diabetes", new.full_text), abs=1e-5)
    assert built.num_docs == 20


def test_flat_drops_replaced_vectors_hnsw_keeps_them_as_tombstones(built: DenseIndex) -> None:
    built.add([Doc("d01", "insulin insulin")])
    built.delete(["d02"])
    stale = 0 if built.config.ann == "flat" else 2
    assert built._index.ntotal == 19 + stale
    for _ in range(3):  # versions identical to the query (score 1), then the live one
        built.add([Doc("d03", "honey bees")])
    built.add([Doc("d03", "bone density")])
    hits = built.search(["honey bees"], k=2)[0]
    assert len(hits) == 2 and len({h.doc_id for h in hits}) == 2
    for hit in hits:
        assert hit.score < 1.0 - 1e-3  # no stale version
        if hit.doc_id == "d03":
            assert hit.score == pytest.approx(cosine(built, "honey bees", "bone density"), abs=1e-5)


def test_add_after_build_and_add_to_empty(built: DenseIndex) -> None:
    built.add([Doc("d21", "insulin pumps for diabetes", "Insulin pumps")])
    assert "d21" in top_ids(built, "insulin pumps diabetes", k=2)
    assert built.num_docs == 21
    empty = make(built.config.ann)
    assert empty.search(["anything"]) == [[]]
    empty.add([Doc("x", "granite basalt"), Doc("y", "sandstone")])
    assert top_ids(empty, "basalt") == ["x", "y"]


def test_build_replaces_previous_content(built: DenseIndex) -> None:
    built.build([Doc("only", "one document")])
    assert built.num_docs == 1 and built._index.ntotal == 1
    assert top_ids(built, "insulin") == ["only"]


def test_save_open_same_results_and_saved_copy_is_immutable(built: DenseIndex, tmp_path: Path) -> None:
    queries = ["insulin diabetes", "black hole light", "coffee sleep"]
    built.delete(["d05"])
    built.save(tmp_path / "v1")
    loaded = open_index(tmp_path / "v1")
    assert isinstance(loaded, DenseIndex)
    assert loaded.search(queries, k=5) == built.search(queries, k=5)
    assert loaded.num_docs == 19

    saved = (tmp_path / "v1" / "dense.faiss").read_bytes()
    loaded.add([Doc("d30", "coffee sleep")])
    loaded.delete(["d01"])
    assert top_ids(loaded, "coffee sleep", k=1) == ["d30"]
    assert (tmp_path / "v1" / "dense.faiss").read_bytes() == saved
    loaded.save(tmp_path / "v2")
    reopened = open_index(tmp_path / "v2")
    assert top_ids(reopened, "coffee sleep", k=1) == ["d30"]
    assert "d01" not in top_ids(reopened, "insulin diabetes", k=20)


def test_unbuilt_index_saves_and_loads(tmp_path: Path) -> None:
    make("hnsw").save(tmp_path / "empty")
    assert open_index(tmp_path / "empty").search(["x"]) == [[]]


def test_damaged_or_mismatched_files_are_corrupt(built: DenseIndex, tmp_path: Path) -> None:
    built.save(tmp_path / "v1")
    (tmp_path / "v1" / "dense.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(CorruptIndex):
        open_index(tmp_path / "v1")

    other = make(built.config.ann, model="fake:hash:16")
    other.build([Doc("a", "alpha")])
    other.save(tmp_path / "v2")
    manifest = (tmp_path / "v2" / "manifest.json").read_text().replace("fake:hash:16", "fake:hash")
    (tmp_path / "v2" / "manifest.json").write_text(manifest)
    with pytest.raises(CorruptIndex, match="dimension 16"):
        open_index(tmp_path / "v2").search(["alpha"])


@pytest.mark.parametrize("queries, k", [([""], 10), (["ok", "  "], 10), (["ok"], 0)])
def test_bad_queries_raise_invalid_input(built: DenseIndex, queries: list[str], k: int) -> None:
    with pytest.raises(InvalidInput):
        built.search(queries, k=k)


def test_query_over_encoder_limit_is_invalid_input(tiny_docs: list[Doc]) -> None:
    index = make(query_max_length=8)
    index.build(tiny_docs)
    with pytest.raises(InvalidInput, match="position 0"):
        index.search(["one two three four five six seven eight nine"])


QA = {"does insulin lower blood glucose in diabetes": "d01", "what causes lung cancer": "d04"}


@pytest.fixture(scope="module")
def minilm(tiny_docs: list[Doc]) -> DenseIndex:
    index = DenseIndex(DenseConfig(encoder={"model": "minilm", "device": "cpu"}))
    index.build(tiny_docs)
    return index


def test_minilm_ranks_right_documents_first(minilm: DenseIndex) -> None:
    """The real packaged model on the tiny corpus: a paraphrased question finds its document."""
    results = minilm.search(list(QA), k=3)
    assert [hits[0].doc_id for hits in results] == list(QA.values())
    assert all(hits[0].score > hits[1].score + 0.1 for hits in results)


@pytest.mark.slow
def test_minilm_scores_are_sentence_transformers_cosines(minilm: DenseIndex, tiny_docs: list[Doc]) -> None:
    from sentence_transformers import SentenceTransformer

    from indexers.models.encoders import resolve_model_path

    model = SentenceTransformer(resolve_model_path("minilm"), device="cpu")
    by_id = {d.id: d.full_text for d in tiny_docs}
    for query, hits in zip(QA, minilm.search(list(QA), k=3), strict=True):
        q = model.encode([query], normalize_embeddings=True)[0]
        d = model.encode([by_id[h.doc_id] for h in hits], normalize_embeddings=True)
        np.testing.assert_allclose([h.score for h in hits], d @ q, atol=1e-4)
