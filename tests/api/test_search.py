"""Search: single kind, hybrid RRF, filters, explanations, batch, default kind."""

from __future__ import annotations

from fastapi.testclient import TestClient

from indexers.scoring.fusion import normalised_sum, rrf
from service.settings import Settings


def _search(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/collections/docs/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_single_kind_is_sorted_and_bounded(loaded: TestClient) -> None:
    body = _search(loaded, query="insulin blood glucose diabetes", k=5, kind="exact", with_text=True)
    assert body["kinds"] == ["exact"]
    hits = body["hits"]
    assert len(hits) == 5 and hits[0]["id"] == "d01"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert hits[0]["title"] == "Insulin and diabetes" and "Insulin" in hits[0]["text"]
    assert hits[0]["metadata"] == {"topic": "medicine", "year": 2019}


def test_default_kind_is_the_first(loaded: TestClient) -> None:
    assert _search(loaded, query="diabetes")["kinds"] == ["exact"]
    assert _search(loaded, query="diabetes", kind="dense")["kinds"] == ["dense"]


def test_hybrid_matches_rrf_of_the_kinds(loaded: TestClient, settings: Settings) -> None:
    query = "aspirin heart attack risk"
    depth = settings.fusion_depth
    per_kind = {
        kind: [h["id"] for h in _search(loaded, query=query, k=depth, kind=kind)["hits"]]
        for kind in ("exact", "dense")
    }
    fused = _search(loaded, query=query, k=5, hybrid={"weights": {"exact": 2.0}, "rrf_k": 60})
    assert fused["kinds"] == ["exact", "dense"]
    expected = rrf(per_kind, {"exact": 2.0, "dense": 1.0}, 60)[:5]  # an unweighted kind counts 1.0
    assert [(h["id"], round(h["score"], 9)) for h in fused["hits"]] == [(i, round(s, 9)) for i, s in expected]


def test_default_hybrid_applies_the_fusion_settings(loaded: TestClient, settings: Settings) -> None:
    query = "aspirin heart attack risk"
    depth = settings.fusion_depth
    scored = {
        kind: [(h["id"], h["score"]) for h in _search(loaded, query=query, k=depth, kind=kind)["hits"]]
        for kind in ("exact", "dense")
    }
    per_kind = {kind: [doc for doc, _ in hits] for kind, hits in scored.items()}
    weights = {kind: settings.fusion_weights.get(kind, 1.0) for kind in per_kind}
    fused = _search(loaded, query=query, k=5, hybrid={})
    if settings.fusion == "rrf":
        expected = rrf(per_kind, weights, settings.rrf_k)[:5]
    else:
        expected = normalised_sum(scored, weights, settings.fusion)[:5]
    assert [(h["id"], round(h["score"], 6)) for h in fused["hits"]] == [(i, round(s, 6)) for i, s in expected]
    given = _search(loaded, query=query, k=5, hybrid={"weights": {"dense": 1.0}, "rrf_k": 5})  # overrides
    expected = rrf(per_kind, {"exact": 1.0, "dense": 1.0}, 5)[:5]
    assert [(h["id"], round(h["score"], 9)) for h in given["hits"]] == [(i, round(s, 9)) for i, s in expected]


def test_filters(loaded: TestClient) -> None:
    medicine = _search(loaded, query="cancer", k=20, filter={"must": [{"key": "topic", "match": "medicine"}]})
    assert {h["metadata"]["topic"] for h in medicine["hits"]} == {"medicine"}
    assert sorted(h["id"] for h in medicine["hits"]) == ["d01", "d02", "d03", "d04", "d07"]
    recent = _search(loaded, query="cancer", k=3, filter={"must": [{"key": "year", "range": {"gte": 2020}}]})
    assert len(recent["hits"]) == 3 and all(h["metadata"]["year"] >= 2020 for h in recent["hits"])
    either = _search(
        loaded,
        query="cancer",
        k=20,
        filter={
            "must": [{"key": "topic", "any": ["physics", "geology"]}],
            "must_not": [{"key": "year", "match": 2016}],
        },
    )
    assert sorted(h["id"] for h in either["hits"]) == ["d12", "d13", "d14"]
    nothing = _search(loaded, query="cancer", filter={"must": [{"key": "topic", "match": "astrology"}]})
    assert nothing["hits"] == []


def test_filtered_search_grows_past_the_first_overfetch(loaded: TestClient) -> None:
    # Only d08 is from 1999: whatever its rank, over-fetching must keep growing until it is found.
    body = _search(loaded, query="insulin", k=1, filter={"must": [{"key": "year", "match": 1999}]})
    assert [h["id"] for h in body["hits"]] == ["d08"]


def test_explain_gives_token_matches(loaded: TestClient) -> None:
    hits = _search(loaded, query="insulin diabetes", k=2, kind="exact", explain=True)["hits"]
    matches = hits[0]["matches"]
    assert [m["query_token"] for m in matches] == ["insulin", "diabetes"]
    assert matches[0]["doc_token"] == "insulin" and matches[0]["score"] > 0.9
    assert _search(loaded, query="insulin", k=2, kind="exact")["hits"][0]["matches"] is None


def test_batch_search_equals_single_searches(loaded: TestClient) -> None:
    queries = ["insulin diabetes", "lung cancer", "volcano"]
    response = loaded.post(
        "/v1/collections/docs/search/batch", json={"queries": queries, "k": 4, "kind": "dense"}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    for query, hits in zip(queries, results, strict=True):
        single = _search(loaded, query=query, k=4, kind="dense")["hits"]
        assert [h["id"] for h in hits] == [h["id"] for h in single]


def test_search_before_any_document_is_empty(client: TestClient) -> None:
    from tests.api.support import EXACT

    client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
    assert _search(client, query="anything")["hits"] == []
