"""Shared document encodings: one model run per document across kinds within the scope, the
same vectors as without it, nothing kept outside it, and the byte bound."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.configs import EncoderConfig
from indexers.models.encoders import FakeTokenEncoder, load_token_encoder
from indexers.models.encoding_cache import active_cache, shared_encodings

TEXTS = ["insulin lowers blood glucose", "the cell cycle and its checkpoints", "short"]


@pytest.fixture()
def rows_encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the rows each `_forward` call of the fake encoder runs."""
    counts: list[int] = []
    forward = FakeTokenEncoder._forward

    def counting(self: FakeTokenEncoder, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts.append(len(batch))
        return forward(self, batch)

    monkeypatch.setattr(FakeTokenEncoder, "_forward", counting)
    return counts


def test_kinds_sharing_a_model_encode_each_document_once(rows_encoded: list[int]) -> None:
    config = EncoderConfig(model="fake:hash:32", batch_size=2)
    plain_tokens = load_token_encoder(config).encode(TEXTS, is_query=False)
    plain_dense = load_token_encoder(config).encode_dense(TEXTS, is_query=False)
    assert sum(rows_encoded) == 2 * len(TEXTS)

    rows_encoded.clear()
    with shared_encodings() as cache:
        tokens = load_token_encoder(config).encode(TEXTS, is_query=False)
        dense = load_token_encoder(config).encode_dense(TEXTS, is_query=False)
        again = load_token_encoder(config).encode(TEXTS, is_query=False)
    assert sum(rows_encoded) == len(TEXTS)
    assert (cache.hits, cache.misses) == (2 * len(TEXTS), len(TEXTS))
    for shared, plain, repeat in zip(tokens, plain_tokens, again, strict=True):
        np.testing.assert_array_equal(shared.token_ids, plain.token_ids)
        np.testing.assert_allclose(shared.vectors, plain.vectors, atol=2e-3)  # kept as float16
        np.testing.assert_array_equal(repeat.vectors, shared.vectors)
    np.testing.assert_allclose(dense, plain_dense, atol=2e-3)
    assert active_cache() is None


def test_another_model_or_a_query_is_not_served_from_the_cache(rows_encoded: list[int]) -> None:
    with shared_encodings():
        load_token_encoder(EncoderConfig(model="fake:hash:32")).encode(TEXTS, is_query=False)
        load_token_encoder(EncoderConfig(model="fake:hash:64")).encode(TEXTS, is_query=False)
        load_token_encoder(EncoderConfig(model="fake:hash:32", document_prefix="doc: ")).encode(
            TEXTS, is_query=False
        )
    assert sum(rows_encoded) == 3 * len(TEXTS)


def test_a_full_cache_keeps_what_it_holds(rows_encoded: list[int]) -> None:
    encoder = load_token_encoder(EncoderConfig(model="fake:hash:32", batch_size=1))
    one_row = 32 * 2 * 8  # float16 states of a text of at most 8 tokens, with their masks
    with shared_encodings(max_bytes=one_row) as cache:
        first = encoder.encode(TEXTS, is_query=False)
        second = encoder.encode(TEXTS, is_query=False)
    assert 0 < cache.nbytes <= one_row and 1 <= cache.hits < len(TEXTS)
    assert sum(rows_encoded) == 2 * len(TEXTS) - cache.hits
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.vectors, b.vectors)
