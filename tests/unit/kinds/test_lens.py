"""LENS: vocabulary clustering, cluster-aggregated lexicon vectors, FAISS and Qdrant backends, dense
fusion, explanations, bad input. Fake encoders for the index logic, plus the packaged SPLADE-tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.base import Doc, ExplainsTerms
from indexers.configs import EncoderConfig, LensConfig
from indexers.errors import InvalidConfig, UnsupportedOperation
from indexers.kinds.lens import LensIndex, cluster_vocabulary
from indexers.models.encoders import load_vocab_encoder
from indexers.registry import open_index
from indexers.storage.versions import commit, open_current

FAKE = EncoderConfig(model="fake:hash", batch_size=8)
SMALL = {"encoder": FAKE, "n_clusters": 1024, "kmeans_iterations": 4}


def lens(**fields: object) -> LensIndex:
    return LensIndex(LensConfig(**{**SMALL, **fields}))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(tiny_docs: list[Doc]) -> LensIndex:
    index = lens()
    index.build(tiny_docs)
    return index


def test_cluster_vocabulary_groups_similar_tokens() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, dtype=np.float32)[[0, 1, 2]]
    embeddings = np.repeat(centres, 10, axis=0) + 0.01 * rng.standard_normal((30, 4)).astype(np.float32)
    clusters, labels = cluster_vocabulary(embeddings, 3, 10, 0)
    assert clusters.shape == (30,) and labels.shape == (3, 3)
    groups = [set(clusters[i * 10 : (i + 1) * 10]) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    for cluster, members in enumerate(labels):
        assert all(clusters[m] == cluster for m in members if m >= 0)
    with pytest.raises(InvalidConfig, match="larger than the model's vocabulary"):
        cluster_vocabulary(embeddings, 31, 10, 0)


@pytest.mark.parametrize("aggregate", ["max", "logsumexp"])
def test_encode_clusters_matches_a_by_hand_computation(aggregate: str) -> None:
    encoder = load_vocab_encoder(FAKE)
    clusters = np.arange(encoder.vocab_size) % 7
    texts = ["insulin glucose", "!!!"]
    got = encoder.encode_clusters(texts, is_query=False, clusters=clusters, n_clusters=7, aggregate=aggregate)
    logits, keep = encoder._logits(encoder._token_ids(texts[:1], is_query=False))
    tokens = logits.numpy()[0][keep[0]]  # (2 kept tokens, V)
    per_cluster = np.full((len(tokens), 7), -np.inf)
    for c in range(7):
        members = tokens[:, clusters == c]
        if aggregate == "max":
            per_cluster[:, c] = members.max(axis=1)
        else:
            top = members.max(axis=1, keepdims=True)
            per_cluster[:, c] = np.log(np.exp(members - top).sum(axis=1)) + top[:, 0]
    expected = np.log1p(np.maximum(per_cluster, 0)).max(axis=0)
    assert got[0] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert not got[1].any()  # no kept token: an empty lexicon vector


def test_vectors_are_unit_lexicon_vectors_and_queries_rank_by_cosine(built: LensIndex) -> None:
    vectors = built._encode(["insulin diabetes", "volcanic lava"], is_query=True)
    assert vectors.shape == (2, 1024)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    hits = built.search(["insulin diabetes"], k=3)[0]
    doc = built._index.reconstruct(built.docs.by_ext[hits[0].doc_id])
    assert hits[0].score == pytest.approx(float(vectors[0] @ doc), rel=1e-5)


def test_qdrant_backend_agrees_with_faiss_before_and_after_save(tiny_docs: list[Doc], tmp_path: Path) -> None:
    queries = ["insulin diabetes glucose", "tobacco smoking lung cancer", "honey bees dance"]
    faiss_index = lens()
    faiss_index.build(tiny_docs)
    qdrant_index = lens(backend="qdrant")
    qdrant_index.build(tiny_docs)
    # sparse vectors only reach documents sharing a cluster; FAISS also lists zero-score documents
    expected = [[h.doc_id for h in hits if h.score > 1e-6] for hits in faiss_index.search(queries, k=3)]
    assert [[h.doc_id for h in hits] for hits in qdrant_index.search(queries, k=3)] == expected
    qdrant_index.delete(["d01"])
    assert "d01" not in [h.doc_id for h in qdrant_index.search(queries[:1], k=20)[0]]

    commit(qdrant_index, tmp_path, "lens")
    served = open_current(tmp_path, "lens")
    assert (tmp_path / "lens" / "v000001" / "qdrant").is_dir()
    assert served.search(queries[1:], k=3)[0][0].doc_id == expected[1][0]
    other = open_current(tmp_path, "lens")  # a second reader of the same locked folder
    with pytest.raises(UnsupportedOperation, match="another process"):
        other.search(queries[1:], k=3)
    served.add([Doc(id="new", text="Penguins huddle in the antarctic winter")])
    assert served.search(["penguins antarctic"], k=1)[0][0].doc_id == "new"  # in-memory, rebuilt


def test_dense_fusion_adds_the_weighted_cosine(tiny_docs: list[Doc]) -> None:
    dense = EncoderConfig(model="fake:hash:16", batch_size=8)
    fused = lens(dense=dense, dense_weight=0.5)
    fused.build(tiny_docs)
    plain = lens()
    plain.build(tiny_docs)
    query = "insulin diabetes"
    vector = fused._encode([query], is_query=True)[0]
    assert vector.shape == (1024 + 16,)
    hit = fused.search([query], k=1)[0][0]
    lexical = next(h.score for h in plain.search([query], k=20)[0] if h.doc_id == hit.doc_id)
    dense_q = fused.dense_encoder.encode_dense([query], is_query=True)[0]  # type: ignore[union-attr]
    doc = next(d for d in tiny_docs if d.id == hit.doc_id)
    dense_d = fused.dense_encoder.encode_dense([doc.full_text], is_query=False)[0]  # type: ignore[union-attr]
    assert hit.score == pytest.approx(lexical + 0.5 * float(dense_q @ dense_d), rel=1e-4)
    terms = fused.explain_terms(query, hit.doc_id)
    assert "[dense]" in [t.term for t in terms]


def test_explain_terms_names_clusters_by_their_tokens(built: LensIndex) -> None:
    assert isinstance(built, ExplainsTerms)
    terms = built.explain_terms("insulin diabetes", "d01", limit=4)
    assert terms and all(t.score > 0 for t in terms)
    insulin = built.encoder._token_ids(["insulin"], is_query=True)[0][1]
    assert built._cluster_label(int(built.clusters[insulin])) in [t.term for t in terms]  # type: ignore[index]
    assert [t.score for t in terms] == sorted((t.score for t in terms), reverse=True)


def test_bad_input(built: LensIndex, tiny_docs: list[Doc], tmp_path: Path) -> None:
    assert built.search(["?!"], k=3) == [[]]  # an empty lexicon vector: no hits
    with pytest.raises(InvalidConfig, match="larger than the model's vocabulary"):
        lens(n_clusters=40_000).build(tiny_docs)
    with pytest.raises(InvalidConfig, match="backend 'faiss'"):
        from indexers.configs import parse_config

        parse_config({"kind": "lens", "backend": "qdrant", "dense": {"model": "minilm"}})
    built.save(tmp_path / "v")
    reopened = open_index(tmp_path / "v")
    assert isinstance(reopened, LensIndex) and reopened.clusters is not None
    assert np.array_equal(reopened.clusters, built.clusters)  # type: ignore[arg-type]
    reopened.vocab_fingerprint = "50000:another-model"
    with pytest.raises(InvalidConfig, match="rebuild the index"):
        reopened.search(["insulin"], k=1)


def test_packaged_splade_tiny_lens(tiny_docs: list[Doc]) -> None:
    encoder = EncoderConfig(model="splade-tiny", batch_size=8)
    index = LensIndex(LensConfig(encoder=encoder, n_clusters=256, kmeans_iterations=5))
    index.build(tiny_docs)
    results = index.search(["does insulin lower blood glucose", "smoking causes lung cancer"], k=3)
    assert [hits[0].doc_id for hits in results] == ["d01", "d04"]


def test_clustering_leaves_the_embeddings_untouched() -> None:
    embeddings = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    before = embeddings.copy()
    cluster_vocabulary(embeddings, 4, 2, 0)
    assert np.array_equal(embeddings, before)  # the model's own weights were normalised in place
