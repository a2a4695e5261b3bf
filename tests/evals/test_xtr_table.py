"""The XTR benchmark's cached document encoder: a complete TokenEncoder that replays stored encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.xtr_table import CachedDocuments
from indexers.configs import EncoderConfig
from indexers.models.encoders import load_token_encoder


def test_cached_documents_replays_the_models_document_encodings(tmp_path: Path) -> None:
    model = load_token_encoder(EncoderConfig(model="fake:hash:16"))
    texts = ["insulin lowers glucose", "smoking causes lung cancer"]
    cached = CachedDocuments.open(model, texts, tmp_path / "cache")
    again = CachedDocuments.open(model, texts, tmp_path / "cache")  # second open reads the cache
    for encoder in (cached, again):
        replayed = encoder.encode(texts[::-1], is_query=False)
        fresh = model.encode(texts[::-1], is_query=False)
        for got, want in zip(replayed, fresh, strict=True):
            np.testing.assert_array_equal(got.token_ids, want.token_ids)
            np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-3)  # stored as float16
    assert cached._document_spans(texts[0]) == model._document_spans(texts[0])
