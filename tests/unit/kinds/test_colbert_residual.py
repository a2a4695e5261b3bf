"""Pooled ColBERT with the residual codec: centroid candidates, add, delete, save/load, old folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, create_index, open_index
from indexers.scoring.centroid_maxsim import centroid_table
from tests.unit.synthetic import config, recall_at_10

RESIDUAL = {
    "pool_factor": 1,
    "vector_codec": "residual",
    "num_centroids": 256,
    "nprobe": 16,
    "residual_min_vectors": 0,
    "residual_pq_m": 0,  # scalar codes: residual_bits per dimension
}


@pytest.mark.parametrize(
    ("extra", "min_recall"),
    [
        ({"residual_bits": 4}, 0.8),
        ({"residual_bits": 2}, 0.65),
        ({"reduce_dim": 48}, 0.6),
        ({"residual_pq_m": 16}, 0.65),
    ],
)
def test_residual_tracks_the_oracle(
    extra: dict,  # type: ignore[type-arg]
    min_recall: float,
    corpus: list[Doc],
    queries: list[str],
    oracle,  # type: ignore[no-untyped-def]
) -> None:
    """Random fake-encoder vectors are the codec's worst case (no structure), so the bar is the target
    first and most of the oracle's near-tied top 10."""
    index = create_index(config("colbert_pooled", **{**RESIDUAL, **extra}))
    index.build(corpus)
    assert index.ann is None  # type: ignore[attr-defined]
    top1 = [hits[0].doc_id for hits in index.search(queries, k=1)]
    assert np.mean([t == f"doc{i}" for i, t in enumerate(top1)]) >= 0.95
    assert recall_at_10(index, oracle, queries) >= min_recall


def test_residual_add_delete_save_load(corpus: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("colbert_pooled", **RESIDUAL))
    index.build(corpus[:200])
    index.save(tmp_path / "a")
    reopened = open_index(tmp_path / "a")
    assert isinstance(reopened.store.rows, np.memmap)  # type: ignore[attr-defined]
    reopened.add(corpus[200:])  # encoded against the centroids fitted at build
    probe = " ".join(corpus[250].text.split()[:8])
    assert reopened.search([probe], k=1)[0][0].doc_id == "doc250"
    reopened.delete(["doc250"])
    assert all(h.doc_id != "doc250" for h in reopened.search([probe], k=10)[0])
    reopened.save(tmp_path / "b")
    again = open_index(tmp_path / "b")
    assert again.num_docs == 299 and again.search([probe], k=10)[0] == reopened.search([probe], k=10)[0]


def test_float16_folder_opens_under_a_residual_config(corpus: list[Doc], tmp_path: Path) -> None:
    index = create_index(config("colbert_pooled", pool_factor=1, ann="flat"))
    index.build(corpus[:50])
    index.save(tmp_path / "old")
    reopened = type(index)._load_payload(tmp_path / "old", config("colbert_pooled", **RESIDUAL))
    reopened.docs = index.docs
    probe = " ".join(corpus[10].text.split()[:8])
    assert reopened.store.codec == "float16" and reopened.ann is not None
    assert reopened.search([probe], k=1)[0][0].doc_id == "doc10"


def test_k_above_rerank_docs_rescores_k_documents(corpus: list[Doc], queries: list[str]) -> None:
    """The re-scoring depth is `max(k, rerank_docs)`: a search for more hits than `rerank_docs` still
    returns k documents, each with its exact MaxSim score (as a deeper re-scoring gives it)."""
    shallow = create_index(config("colbert_pooled", **RESIDUAL, rerank_docs=4))
    shallow.build(corpus)
    deep = create_index(config("colbert_pooled", **RESIDUAL, rerank_docs=len(corpus)))
    deep.build(corpus)
    for ours, theirs in zip(shallow.search(queries[:5], k=20), deep.search(queries[:5], k=300), strict=True):
        exact = {h.doc_id: h.score for h in theirs}
        assert len(ours) == 20
        assert all(h.score == pytest.approx(exact[h.doc_id], abs=1e-5) for h in ours)


def test_centroid_interaction_is_maxsim_over_the_documents_centroids(corpus: list[Doc]) -> None:
    index = create_index(config("colbert_pooled", **RESIDUAL))
    index.build(corpus[:100])
    store = index.store  # type: ignore[attr-defined]
    query = store.project(np.random.default_rng(0).standard_normal((4, store.dim)).astype(np.float32))
    centroid_sims = query @ store.residual_codec.centroids.T
    candidates = np.array([7, 3, 42])
    scores = index._centroid_interaction(store, centroid_table(centroid_sims), candidates)  # type: ignore[attr-defined]
    centroids = store.residual_codec.centroids
    expected = [
        (query @ centroids[np.asarray(store.centroid_ids[store.doc_rows(d)], dtype=np.intp)].T)
        .max(axis=1)
        .sum()
        for d in candidates
    ]
    assert np.allclose(scores, expected, atol=1e-5)


def test_search_encoded_takes_the_queries_search_would_encode(corpus: list[Doc], queries: list[str]) -> None:
    index = create_index(config("colbert_pooled", **RESIDUAL))
    index.build(corpus[:100])
    encoded = index.encoder.encode(queries[:3], is_query=True)  # type: ignore[attr-defined]
    assert index.search_encoded(encoded, k=5) == index.search(queries[:3], k=5)  # type: ignore[attr-defined]
