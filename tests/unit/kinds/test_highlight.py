"""Token spans and heat maps: every document token's similarity, at its place in the text."""

from __future__ import annotations

import numpy as np
import pytest

from indexers import Doc, create_index, parse_config
from indexers.base import Highlightable
from indexers.configs import EncoderConfig
from indexers.models.encoders import load_token_encoder
from indexers.scoring.maxsim import maxsim_scores

FAKE = {"model": "fake:hash", "batch_size": 8}
TEXT = "Insulin and diabetes. Insulin therapy lowers blood-glucose!"


def test_fake_spans_point_at_the_words() -> None:
    encoder = load_token_encoder(EncoderConfig(**FAKE))
    embedded, spans = encoder.encode_with_spans(TEXT)
    words = [TEXT[s:e] for s, e in spans]
    assert words == ["Insulin", "and", "diabetes", "Insulin", "therapy", "lowers", "blood", "glucose"]
    again = encoder.encode([TEXT], is_query=False)[0]
    assert np.array_equal(embedded.token_ids, again.token_ids)
    assert np.allclose(embedded.vectors, again.vectors)


def test_spans_stop_at_the_document_length_limit() -> None:
    encoder = load_token_encoder(EncoderConfig(**FAKE, doc_max_length=8))
    embedded, spans = encoder.encode_with_spans(TEXT)
    assert len(spans) == len(embedded.vectors) == 6  # 8 minus the start and end markers
    assert TEXT[spans[-1][0] : spans[-1][1]] == "lowers"


def test_exact_heat_is_each_tokens_best_query_similarity() -> None:
    index = create_index(parse_config({"kind": "exact", "encoder": FAKE}))
    index.build([Doc("d1", TEXT)])
    assert isinstance(index, Highlightable)
    heats = index.highlight("insulin glucose", TEXT)
    assert [TEXT[h.start : h.end] for h in heats][-1] == "glucose"
    by_word = {TEXT[h.start : h.end]: h for h in heats}
    assert by_word["glucose"].query_token == "glucose" and by_word["glucose"].score == pytest.approx(
        1.0, abs=0.02
    )
    assert by_word["therapy"].score < 0.5 and not by_word["therapy"].matched
    # The matched tokens are each query token's best match: their scores sum to the MaxSim score.
    best_per_query = {}
    for heat in heats:
        if heat.matched:
            best_per_query[heat.query_token] = max(best_per_query.get(heat.query_token, -1.0), heat.score)
    score = index.search(["insulin glucose"], k=1)[0][0].score
    assert sum(best_per_query.values()) == pytest.approx(score, abs=1e-3)


def test_pooled_tokens_share_their_cluster_similarity() -> None:
    text = " ".join(["alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"] * 2)
    index = create_index(parse_config({"kind": "colbert_pooled", "pool_factor": 3, "encoder": FAKE}))
    index.build([Doc("d1", text), Doc("d2", "unrelated words here")])
    heats = index.highlight("gamma kappa", text)
    assert len(heats) == 24
    assert len({round(h.score, 6) for h in heats}) <= 24 // 3
    # The index's own score is the MaxSim over pooled vectors: it equals the matched clusters' sum.
    best: dict[str, float] = {}
    for heat in heats:
        if heat.matched:
            best[heat.query_token] = max(best.get(heat.query_token, -1.0), heat.score)
    store = index.store
    assert store is not None
    internal = index.docs.by_ext["d1"]
    query = index.encoder.encode(["gamma kappa"], is_query=True)[0].vectors
    exact = maxsim_scores(query, store.doc_vectors(internal), np.array([0, len(store.doc_vectors(internal))]))
    assert sum(best.values()) == pytest.approx(float(exact[0]), abs=5e-3)  # float16 storage


def test_minilm_spans_and_heat_follow_the_text() -> None:
    index = create_index(parse_config({"kind": "exact"}))
    text = "Insulin therapy lowers blood glucose in patients with type 1 diabetes."
    index.build([Doc("d1", text)])
    heats = index.highlight("insulin", text)
    pieces = [text[h.start : h.end].lower() for h in heats]
    assert "".join(pieces) == text.lower().replace(" ", "")  # word pieces cover the text, in order
    hottest = max(heats, key=lambda h: h.score)
    assert text[hottest.start : hottest.end] == "Insulin" and hottest.matched


def test_explanations_of_one_query_encode_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    index = create_index(parse_config({"kind": "exact", "encoder": FAKE}))
    index.build([Doc("d1", TEXT), Doc("d2", "glucose meters")])
    calls: list[bool] = []
    encode = index.encoder.encode

    def counting(texts: list[str], *, is_query: bool, **kwargs: object) -> object:
        calls.append(is_query)
        return encode(texts, is_query=is_query, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index.encoder, "encode", counting)
    first = index.explain("insulin glucose", "d1")
    index.explain("insulin glucose", "d2")
    index.highlight("insulin glucose", TEXT)
    assert calls == [True] and index.explain("insulin glucose", "d1") == first
    index.explain("other words", "d1")
    assert calls == [True, True]
