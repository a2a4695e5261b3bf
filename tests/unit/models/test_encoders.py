"""Encoders: the fake one (fast, deterministic) and the packaged real models."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.configs import EncoderConfig
from indexers.errors import InvalidConfig, InvalidInput
from indexers.models.encoders import load_token_encoder, load_vocab_encoder
from indexers.scoring.maxsim import maxsim_scores


def test_fake_encoder_is_deterministic_and_normalised() -> None:
    enc = load_token_encoder(EncoderConfig(model="fake:hash:16"))
    a, b = enc.encode(["Hello world again", "x"], is_query=False)
    assert a.vectors.shape == (3, 16) and b.vectors.shape == (1, 16)
    assert np.linalg.norm(a.vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    again = enc.encode(["Hello world again"], is_query=False)[0]
    assert np.array_equal(a.vectors, again.vectors)
    assert enc.decode_tokens(a.token_ids) == ["hello", "world", "again"]


def test_batching_keeps_input_order() -> None:
    enc = load_token_encoder(EncoderConfig(model="fake:hash", batch_size=2))
    texts = ["one two three four", "a", "b c", "d e f"]
    assert [len(e.token_ids) for e in enc.encode(texts, is_query=False)] == [4, 1, 2, 3]
    seen: list[tuple[int, int]] = []
    enc.encode(texts, is_query=False, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 4), (4, 4)]


def test_long_queries_are_rejected_and_documents_truncated() -> None:
    enc = load_token_encoder(EncoderConfig(model="fake:hash", query_max_length=10, doc_max_length=10))
    with pytest.raises(InvalidInput, match="limit is 10"):
        enc.encode(["w " * 20], is_query=True)
    assert len(enc.encode(["w " * 20], is_query=False)[0].token_ids) == 8  # 10 minus start/end markers


def test_bad_model_names_raise_invalid_config() -> None:
    with pytest.raises(InvalidConfig):
        load_token_encoder(EncoderConfig(model="fake:hash:abc"))
    with pytest.raises(InvalidConfig):
        load_token_encoder(EncoderConfig(model="/no/such/model/folder"))


def test_packaged_minilm_token_and_dense_vectors() -> None:
    enc = load_token_encoder(EncoderConfig(model="minilm"))
    assert enc.dim == 384
    tokens = enc.encode(["Insulin lowers blood glucose."], is_query=False)[0]
    assert enc.decode_tokens(tokens.token_ids) == ["insulin", "lowers", "blood", "glucose", "."]
    assert np.linalg.norm(tokens.vectors, axis=1) == pytest.approx(np.ones(5), abs=1e-4)
    dense = enc.encode_dense(
        ["insulin and diabetes", "diabetes treated with insulin", "volcanic lava"], is_query=True
    )
    assert dense.shape == (3, 384)
    assert dense[0] @ dense[1] > dense[0] @ dense[2] + 0.2


def test_packaged_mpnet_token_vectors_rank_the_relevant_document_first() -> None:
    enc = load_token_encoder(EncoderConfig(model="mpnet", device="cpu"))
    assert enc.dim == 768 and enc.window == 512
    query = enc.encode(["does insulin treat diabetes"], is_query=True)[0]
    docs = enc.encode(["Insulin lowers blood glucose.", "Volcanic lava cools into basalt."], is_query=False)
    words = ["insulin", "lowers", "blood", "glucose", "."]
    assert enc.decode_tokens(docs[0].token_ids) == words  # <s> and </s> dropped
    for tokens in [query, *docs]:
        assert tokens.vectors.shape[1] == 768
        assert np.linalg.norm(tokens.vectors, axis=1) == pytest.approx(np.ones(len(tokens.vectors)), abs=1e-4)
    vectors = np.concatenate([d.vectors for d in docs])
    relevant, unrelated = maxsim_scores(query.vectors, vectors, np.array([0, 5, len(vectors)]))
    assert relevant > unrelated + 1.0


def test_packaged_splade_vocabulary_weights() -> None:
    enc = load_vocab_encoder(EncoderConfig(model="splade-tiny"))
    out = enc.encode(["insulin therapy"], is_query=True, top_k=8)[0]
    assert out.indices.shape == (2, 8) and out.values.shape == (2, 8)
    assert (out.values >= 0).all()
    first = out.indices[0][out.values[0].argmax()]
    assert enc.tokenizer.convert_ids_to_tokens(int(first)) == "insulin"


def test_model_window_bounds_queries_and_documents() -> None:
    enc = load_token_encoder(EncoderConfig(model="minilm", query_max_length=8192, doc_max_length=8192))
    assert enc.window == 512
    with pytest.raises(InvalidInput, match="model window 512"):
        enc.encode(["word " * 600], is_query=True)
    assert len(enc.encode(["word " * 600], is_query=False)[0].token_ids) == 510  # 512 minus [CLS], [SEP]
