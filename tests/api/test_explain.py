"""POST /v1/collections/{name}/explain: token matches and a heat map with character offsets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_explain_gives_matches_and_a_heat_map_that_add_up(loaded: TestClient) -> None:
    query = "insulin blood glucose"
    body = loaded.post("/v1/collections/docs/explain", json={"query": query, "id": "d01"}).json()
    assert body["kind"] == "exact"  # default: the first kind that can explain
    assert (
        body["text"]
        == "Insulin and diabetes Insulin therapy lowers blood glucose in patients with type 1 diabetes."
    )
    assert [m["query_token"] for m in body["matches"]] == ["insulin", "blood", "glucose"]
    words = [body["text"][t["start"] : t["end"]] for t in body["tokens"]]
    assert words[:3] == ["Insulin", "and", "diabetes"] and len(words) == 14
    hit = loaded.post("/v1/collections/docs/search", json={"query": query, "kind": "exact", "k": 1}).json()
    assert hit["hits"][0]["id"] == "d01"
    assert body["score"] == pytest.approx(hit["hits"][0]["score"], abs=1e-3)
    matched = [t for t in body["tokens"] if t["matched"]]
    assert {body["text"][t["start"] : t["end"]].lower() for t in matched} >= {"blood", "glucose"}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"query": "insulin", "id": "d01", "kind": "dense"}, 422, "cannot explain"),
        ({"query": "insulin", "id": "nope"}, 404, "does not exist"),
        ({"query": "insulin", "id": "d01", "kind": "bm25"}, 422, "has no index of kind 'bm25'"),
        ({"query": "  ", "id": "d01"}, 422, "query"),
    ],
)
def test_explain_errors(loaded: TestClient, body: dict[str, str], status: int, words: str) -> None:
    response = loaded.post("/v1/collections/docs/explain", json=body)
    assert response.status_code == status and words in response.json()["detail"]


def test_explain_unknown_collection(client: TestClient) -> None:
    response = client.post("/v1/collections/ghost/explain", json={"query": "x", "id": "d01"})
    assert response.status_code == 404
