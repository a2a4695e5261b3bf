"""The XTR benchmark's cached document encoder (a complete TokenEncoder that replays stored encodings)
and its paired per-query comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.xtr_table import CachedDocuments, paired_comparison
from indexers.configs import EncoderConfig
from indexers.encoders import load_token_encoder


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


def test_paired_comparison_counts_queries_and_tests_the_mean_difference() -> None:
    baseline = {f"q{i}": 0.5 for i in range(40)}
    better = dict.fromkeys(baseline, 0.6)  # every query gains: p is as small as the rounds allow
    c = paired_comparison(better, baseline, rounds=2000)
    assert c["wins"] == 40 and c["losses"] == 0 and c["mean_diff"] == pytest.approx(0.1)
    assert c["p_value"] < 0.001
    mixed = {q: 0.5 + (0.1 if i % 2 else -0.1) for i, q in enumerate(baseline)}  # no net gain
    c = paired_comparison(mixed, baseline, rounds=2000)
    assert (c["wins"], c["losses"], c["ties"]) == (20, 20, 0) and c["p_value"] > 0.5
