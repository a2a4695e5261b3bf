"""The XTR benchmark's cached document encoder: a complete TokenEncoder that replays stored encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.xtr_table import CachedDocuments, _paired_rows
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


def test_paired_rows_compare_each_row_with_the_baseline_at_each_shared_k() -> None:
    def point(k: int, scores: list[float]) -> dict[str, object]:
        return {
            "candidate_tokens": k,
            "ndcg_at_10_per_query": dict(zip(["q1", "q2", "q3"], scores, strict=True)),
        }

    records = {
        "zero-shot": {"sweep": [point(32, [0.5, 0.5, 0.5]), point(128, [0.5, 0.5, 0.5])]},
        "trained": {"sweep": [point(32, [1.0, 0.5, 0.2]), point(1024, [1.0, 1.0, 1.0])]},
        "bm25": {},  # no sweep: nothing to compare
    }
    ((label, against, c),) = _paired_rows(records, "zero-shot")  # k'=1024: the baseline has no such point
    assert (label, against) == ("trained at k'=32", "zero-shot at k'=32")
    assert (c["wins"], c["losses"], c["ties"]) == (1, 1, 1) and c["mean_diff"] == pytest.approx(0.2 / 3)
