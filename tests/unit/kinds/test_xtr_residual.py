"""XTR with the residual codec: tokens retrieved from centroid posting lists, scored from residual
codes; ranking, explanations, save/open, add, delete, segments, compaction and typed config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, Index, create_index, open_index, parse_config
from indexers.errors import InvalidConfig
from indexers.kinds.xtr import IMPUTED_TOKEN
from tests.unit.synthetic import WORDS, config, recall_at_10

RESIDUAL = {"vector_codec": "residual", "num_centroids": 256, "nprobe": 16, "candidate_tokens": 200}


@pytest.fixture(scope="module")
def corpus() -> list[Doc]:
    """1,000 documents of 40 random words (40,000 token vectors: enough for any store to compress
    them); document i is the target of query i."""
    rng = np.random.default_rng(7)
    return [Doc(id=f"doc{i}", text=" ".join(rng.choice(WORDS, size=40))) for i in range(1000)]


def probe(corpus: list[Doc], i: int) -> str:
    return " ".join(corpus[i].text.split()[:8])


@pytest.mark.parametrize(
    ("extra", "min_recall"),
    [({"residual_bits": 4}, 0.65), ({"residual_pq_m": 16}, 0.65), ({"residual_bits": 2}, 0.65)],
)
def test_residual_xtr_ranks_the_planted_document_first(
    extra: dict,  # type: ignore[type-arg]
    min_recall: float,
    corpus: list[Doc],
    queries: list[str],
    oracle: Index,
) -> None:
    index = create_index(config("xtr", **RESIDUAL, **extra))
    index.build(corpus)
    assert index.ann is None and index.store.codec == "residual"  # type: ignore[attr-defined]
    top1 = [hits[0].doc_id for hits in index.search(queries, k=1)]
    assert np.mean([t == f"doc{i}" for i, t in enumerate(top1)]) >= 0.95
    assert recall_at_10(index, oracle, queries) >= min_recall


def test_probing_every_centroid_retrieves_the_top_tokens_of_the_decoded_vectors(corpus: list[Doc]) -> None:
    index = create_index(
        config("xtr", vector_codec="residual", num_centroids=64, nprobe=64, candidate_tokens=50)
    )
    index.build(corpus[:850])
    store = index.store  # type: ignore[attr-defined]
    encoded = index.encoder.encode([probe(corpus, 5)], is_query=True)[0].vectors  # type: ignore[attr-defined]
    sims, rows, _ = index._retrieve(encoded)  # type: ignore[attr-defined]
    decoded = store.project(encoded) @ store.vectors(np.arange(store.num_vectors)).T
    np.testing.assert_allclose(np.take_along_axis(decoded, rows, axis=1), sims, atol=1e-4)
    np.testing.assert_allclose(np.sort(sims, axis=1), np.sort(decoded, axis=1)[:, -50:], atol=1e-4)


def test_explain_sums_to_the_score(tiny_docs: list[Doc]) -> None:
    index = create_index(
        config("xtr", vector_codec="residual", num_centroids=16, nprobe=4, candidate_tokens=4)
    )
    index.build(tiny_docs)
    query = "insulin glucose volcano"
    hit = index.search([query], k=1)[0][0]
    assert hit.doc_id == "d01"
    matches = index.explain(query, "d01")  # type: ignore[attr-defined]
    assert matches[0].doc_token == "insulin" and matches[2].doc_token == IMPUTED_TOKEN
    assert sum(m.score for m in matches) == pytest.approx(hit.score, abs=1e-5)


def test_save_open_add_delete(corpus: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("xtr", **RESIDUAL))
    index.build(corpus[:850])
    codec = index.store.residual_codec  # type: ignore[attr-defined]
    index.save(tmp_path / "a")
    reopened = open_index(tmp_path / "a")
    assert reopened.ann is None and isinstance(reopened.store.rows, np.memmap)  # type: ignore[attr-defined]
    assert reopened.search([probe(corpus, 123)], k=1)[0][0].doc_id == "doc123"
    reopened.add(corpus[850:])  # encoded with the codec fitted at build
    assert np.array_equal(reopened.store.residual_codec.centroids, codec.centroids)  # type: ignore[attr-defined]
    assert reopened.num_segments == 2  # type: ignore[attr-defined]
    assert reopened.search([probe(corpus, 950)], k=1)[0][0].doc_id == "doc950"
    reopened.delete(["doc950"])
    assert all(h.doc_id != "doc950" for h in reopened.search([probe(corpus, 950)], k=10)[0])
    reopened.save(tmp_path / "b")
    again = open_index(tmp_path / "b")
    queries = [probe(corpus, i) for i in range(0, 1000, 23)]
    assert again.num_docs == 999 and again.search(queries, k=10) == reopened.search(queries, k=10)


def test_compaction_drops_deleted_documents(corpus: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("xtr", **RESIDUAL))
    index.build(corpus[:850])
    index.save(tmp_path / "a")
    index = open_index(tmp_path / "a")
    index.add(corpus[850:])
    index.delete([f"doc{i}" for i in range(0, 1000, 3)])
    queries = [probe(corpus, i) for i in range(1, 1000, 9)]
    before = [hits[0].doc_id for hits in index.search(queries, k=10)]
    index.compact()  # type: ignore[attr-defined]
    store = index.store  # type: ignore[attr-defined]
    assert index.num_segments == 1 and store.num_slots == index.num_docs == 666  # type: ignore[attr-defined]
    after = [hits[0].doc_id for hits in index.search(queries, k=10)]
    assert np.mean([a == b for a, b in zip(after, before, strict=True)]) >= 0.9
    assert np.mean([a == f"doc{i}" for a, i in zip(after, range(1, 1000, 9), strict=True)]) >= 0.9
    index.save(tmp_path / "c")
    assert open_index(tmp_path / "c").search(queries, k=10) == index.search(queries, k=10)


def test_ann_stays_the_default() -> None:
    assert parse_config({"kind": "xtr"}).vector_codec == "ann"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"),
    [("vector_codec", "pq"), ("residual_bits", 3), ("num_centroids", 8), ("residual_pq_m", -1)],
)
def test_config_errors_are_typed(field: str, value: object) -> None:
    with pytest.raises(InvalidConfig, match=field):
        parse_config({"kind": "xtr", field: value})


def test_a_non_dividing_residual_pq_m_is_rejected_at_build(corpus: list[Doc]) -> None:
    index = create_index(config("xtr", **RESIDUAL, residual_pq_m=7))
    with pytest.raises(InvalidConfig, match="residual_pq_m=7"):
        index.build(corpus)
    assert index.num_docs == 0


def test_a_small_collection_searches_saves_and_grows(tiny_docs: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("xtr", vector_codec="residual", num_centroids=16, candidate_tokens=8))
    index.build(tiny_docs[:10])
    index.save(tmp_path / "a")
    reopened = open_index(tmp_path / "a")
    reopened.add(tiny_docs[10:])
    assert reopened.ann is None and reopened.num_docs == 20  # type: ignore[attr-defined]
    assert reopened.search(["insulin glucose"], k=1)[0][0].doc_id == "d01"
