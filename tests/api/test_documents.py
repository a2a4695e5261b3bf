"""Documents: JSON and JSONL ingest, add vs upsert, get by id, delete by ids or filter."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.support import EXACT


def _ids(client: TestClient, query: str, **options: Any) -> list[str]:
    response = client.post("/v1/collections/docs/search", json={"query": query, "k": 20, **options})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


def test_get_document(loaded: TestClient) -> None:
    doc = loaded.get("/v1/collections/docs/documents/d01").json()
    assert doc["id"] == "d01" and doc["title"] == "Insulin and diabetes"
    assert doc["metadata"] == {"topic": "medicine", "year": 2019}
    missing = loaded.get("/v1/collections/docs/documents/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_jsonl_upload(client: TestClient, data_dir: Any) -> None:
    client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
    body = (data_dir / "corpus.jsonl").read_bytes()
    job = client.post(
        "/v1/collections/docs/documents/jsonl", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert job.status_code == 202 and job.json()["state"] == "succeeded", job.text
    assert job.json()["result"]["num_docs"] == {"exact": 20}
    assert client.get("/v1/collections/docs").json()["documents"] == 20
    assert _ids(client, "insulin blood glucose diabetes")[0] == "d01"


def test_jsonl_bad_line_names_the_line(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
    body = b'{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n'
    response = client.post(
        "/v1/collections/docs/documents/jsonl", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 422 and "line 2" in response.json()["detail"]
    not_utf8 = client.post(
        "/v1/collections/docs/documents/jsonl",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert not_utf8.status_code == 422
    assert client.get("/v1/collections/docs").json()["documents"] == 0


def test_upsert_replaces_and_add_conflicts(loaded: TestClient) -> None:
    new = {"id": "d01", "text": "volcanic eruptions and lava flows", "metadata": {"topic": "geology"}}
    conflict = loaded.post("/v1/collections/docs/documents", json={"documents": [new], "mode": "add"})
    assert conflict.status_code == 409 and "d01" in conflict.json()["detail"]
    assert loaded.get("/v1/collections/docs/documents/d01").json()["metadata"]["topic"] == "medicine"

    job = loaded.post("/v1/collections/docs/documents", json={"documents": [new]})
    assert job.status_code == 202 and job.json()["state"] == "succeeded"
    assert loaded.get("/v1/collections/docs/documents/d01").json()["text"] == new["text"]
    assert loaded.get("/v1/collections/docs").json()["documents"] == 20
    assert _ids(loaded, "volcanic eruptions lava", kind="exact")[0] == "d01"


def test_delete_by_ids(loaded: TestClient) -> None:
    assert "d01" in _ids(loaded, "insulin diabetes")
    job = loaded.post("/v1/collections/docs/documents/delete", json={"ids": ["d01", "d02", "unknown"]})
    assert job.status_code == 202 and job.json()["state"] == "succeeded"
    assert job.json()["result"]["num_docs"] == {"exact": 18, "dense": 18}
    assert loaded.get("/v1/collections/docs/documents/d01").status_code == 404
    for kind in ("exact", "dense"):
        found = _ids(loaded, "insulin diabetes aspirin heart", kind=kind)
        assert "d01" not in found and "d02" not in found and len(found) == 18


def test_delete_by_filter(loaded: TestClient) -> None:
    flt = {"must": [{"key": "topic", "match": "medicine"}]}
    job = loaded.post("/v1/collections/docs/documents/delete", json={"filter": flt})
    assert job.status_code == 202 and job.json()["state"] == "succeeded"
    assert loaded.get("/v1/collections/docs").json()["documents"] == 15
    found = _ids(loaded, "insulin aspirin vitamin")
    assert len(found) == 15
    assert all(
        loaded.get(f"/v1/collections/docs/documents/{i}").json()["metadata"]["topic"] != "medicine"
        for i in found
    )


def test_deleted_documents_leave_results_before_the_job_runs(settings: Any, tiny_records: Any) -> None:
    from tests.api.support import open_client

    for client, jobs in open_client(settings):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        client.post("/v1/collections/docs/documents", json={"documents": tiny_records})
        jobs.run = False  # the delete job is queued but no worker runs it
        job = client.post("/v1/collections/docs/documents/delete", json={"ids": ["d01"]})
        assert job.json()["state"] == "queued"
        assert "d01" not in _ids(client, "insulin diabetes")
        assert len(_ids(client, "insulin diabetes")) == 19


def test_documents_round_trip_unicode_and_nested_metadata(client: TestClient) -> None:
    client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
    doc = {
        "id": "é/1 ünï",
        "title": "Straße",
        "text": "naïve café ☕",
        "metadata": {"a": {"b": [1, 2]}, "c": None},
    }
    assert (
        client.post("/v1/collections/docs/documents", json={"documents": [doc]}).json()["state"]
        == "succeeded"
    )
    stored = client.get("/v1/collections/docs/documents/é%2F1 ünï")
    assert stored.status_code == 200, stored.text
    assert json.loads(stored.content) == {**doc}
