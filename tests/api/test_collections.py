"""Collections: create, list, get with stats, delete; their error paths."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.support import DENSE, EXACT


def test_create_get_list_delete(client: TestClient) -> None:
    created = client.post("/v1/collections", json={"name": "papers", "indexes": [EXACT, DENSE]})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "papers" and body["documents"] == 0 and body["size_bytes"] == 0
    assert [kind["kind"] for kind in body["kinds"]] == ["exact", "dense"]
    assert all(kind["version"] is None for kind in body["kinds"])
    assert body["kinds"][0]["config"]["encoder"]["model"] == "fake:hash"

    listed = client.get("/v1/collections").json()
    assert listed["count"] == 1 and listed["data"][0]["name"] == "papers"
    assert client.get("/v1/collections/papers").json()["kinds"] == body["kinds"]

    assert client.delete("/v1/collections/papers").status_code == 204
    assert client.get("/v1/collections/papers").status_code == 404
    assert client.get("/v1/collections").json()["count"] == 0
    # The name is free again.
    assert client.post("/v1/collections", json={"name": "papers", "indexes": [EXACT]}).status_code == 201


def test_stats_after_ingest(loaded: TestClient) -> None:
    body = loaded.get("/v1/collections/docs").json()
    assert body["documents"] == 20
    assert body["size_bytes"] > 0
    assert {kind["kind"]: kind["version"] for kind in body["kinds"]} == {
        "exact": "v000001",
        "dense": "v000001",
    }


def test_duplicate_name_is_409(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "c", "indexes": [EXACT]}).status_code == 201
    again = client.post("/v1/collections", json={"name": "c", "indexes": [DENSE]})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    # The first collection is untouched.
    assert [k["kind"] for k in client.get("/v1/collections/c").json()["kinds"]] == ["exact"]


def test_create_rejects_bad_configs(client: TestClient) -> None:
    unknown = client.post("/v1/collections", json={"name": "c", "indexes": [{"kind": "nope"}]})
    assert unknown.status_code == 422
    twice = client.post("/v1/collections", json={"name": "c", "indexes": [EXACT, EXACT]})
    assert twice.status_code == 422 and "once per collection" in twice.json()["detail"]
    empty = client.post("/v1/collections", json={"name": "c", "indexes": []})
    assert empty.status_code == 422
    bad_field = client.post("/v1/collections", json={"name": "c", "indexes": [{"kind": "exact", "bogus": 1}]})
    assert bad_field.status_code == 422
    bad_name = client.post("/v1/collections", json={"name": "../etc", "indexes": [EXACT]})
    assert bad_name.status_code == 422
    assert client.get("/v1/collections").json()["count"] == 0


def test_unknown_collection_is_404(client: TestClient) -> None:
    for method, path, body in [
        ("GET", "/v1/collections/missing", None),
        ("DELETE", "/v1/collections/missing", None),
        ("POST", "/v1/collections/missing/build", None),
        ("POST", "/v1/collections/missing/search", {"query": "x"}),
        ("POST", "/v1/collections/missing/documents", {"documents": [{"id": "a", "text": "b"}]}),
        ("GET", "/v1/collections/missing/documents/a", None),
    ]:
        response = client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "missing" in response.json()["detail"]


def test_rebuild_makes_a_new_version(loaded: TestClient) -> None:
    job = loaded.post("/v1/collections/docs/build")
    assert job.status_code == 202
    assert job.json()["state"] == "succeeded"
    assert job.json()["result"]["num_docs"] == {"exact": 20, "dense": 20}
    versions = {k["kind"]: k["version"] for k in loaded.get("/v1/collections/docs").json()["kinds"]}
    assert versions == {"exact": "v000002", "dense": "v000002"}


def test_build_of_empty_collection_is_422(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "empty", "indexes": [EXACT]})
    response = client.post("/v1/collections/empty/build")
    assert response.status_code == 422 and "no documents" in response.json()["detail"]
