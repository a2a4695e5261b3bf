"""The vocabulary-space kinds through the API: selectable, fused, explained with `terms`, bad input."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

SLIM = {"kind": "slim", "encoder": {"model": "fake:hash", "batch_size": 8}}
LENS = {
    "kind": "lens",
    "encoder": {"model": "fake:hash", "batch_size": 8},
    "n_clusters": 1024,
    "kmeans_iterations": 4,
}


def _search(client: TestClient, **body: object) -> dict[str, Any]:
    response = client.post("/v1/collections/sparse/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_slim_and_lens_are_searchable_fusable_and_explained(
    client: TestClient, tiny_records: list[dict[str, Any]]
) -> None:
    created = client.post("/v1/collections", json={"name": "sparse", "indexes": [SLIM, LENS]})
    assert created.status_code == 201, created.text
    records = [*tiny_records, {"id": "symbols", "text": "!!! ???"}]
    job = client.post("/v1/collections/sparse/documents", json={"documents": records})
    assert job.status_code == 202 and job.json()["state"] == "succeeded", job.text

    for kind in ("slim", "lens"):
        hits = _search(client, query="insulin diabetes", k=3, kind=kind, explain=True)["hits"]
        assert hits[0]["id"] == "d01"
        terms = hits[0]["terms"]
        assert terms and set(terms[0]) == {"term", "score"} and terms[0]["score"] > 0
        assert _search(client, query="insulin diabetes", k=3, kind=kind)["hits"][0]["terms"] is None
    slim_hit = _search(client, query="insulin diabetes", k=1, kind="slim", explain=True)["hits"][0]
    assert slim_hit["matches"][0] == {
        "query_token": "insulin",
        "doc_token": "insulin",
        "score": slim_hit["matches"][0]["score"],
    }

    fused = _search(client, query="insulin diabetes", k=3, hybrid={"kinds": ["slim", "lens"]})
    assert fused["kinds"] == ["slim", "lens"] and fused["hits"][0]["id"] == "d01"
    assert _search(client, query="?!", k=3, kind="slim")["hits"] == []  # an empty sparse query


def test_bad_lens_and_slim_configs_are_422(client: TestClient) -> None:
    for config in (
        {"kind": "lens", "n_clusters": 1},
        {"kind": "lens", "backend": "qdrant", "dense": {"model": "minilm"}},
        {"kind": "slim", "token_top_k": 0},
    ):
        response = client.post("/v1/collections", json={"name": "bad", "indexes": [config]})
        assert response.status_code == 422, response.text
