"""The genre kind through the API: created with a collection, filled by a job, searched alone and fused."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.settings import Settings
from tests.api.support import EXACT


def test_genre_collection_searches_alone_and_in_hybrid_fusion(
    client: TestClient, tiny_records: list[dict[str, Any]], tiny_causal_lm: str
) -> None:
    genre = {"kind": "genre", "model": tiny_causal_lm, "num_beams": 5}
    created = client.post("/v1/collections", json={"name": "g", "indexes": [genre, EXACT]})
    assert created.status_code == 201, created.text
    job = client.post("/v1/collections/g/documents", json={"documents": tiny_records})
    assert job.json()["state"] == "succeeded", job.text
    alone = client.post("/v1/collections/g/search", json={"query": "insulin", "k": 5, "kind": "genre"})
    assert alone.status_code == 200, alone.text
    hits = alone.json()["hits"]
    assert 0 < len(hits) <= 5 and {h["id"] for h in hits} <= {r["id"] for r in tiny_records}
    fused = client.post("/v1/collections/g/search", json={"query": "insulin", "k": 5, "hybrid": {}})
    assert fused.status_code == 200 and fused.json()["kinds"] == ["genre", "exact"]
    assert len(fused.json()["hits"]) == 5


def test_genre_config_errors_are_422(client: TestClient) -> None:
    bad = {"kind": "genre", "prompt": "no query slot"}
    response = client.post("/v1/collections", json={"name": "g", "indexes": [bad]})
    assert response.status_code == 422 and "query" in response.text


def test_hits_report_names_shared_by_several_documents(
    client: TestClient, settings: Settings, tiny_causal_lm: str
) -> None:
    genre = {"kind": "genre", "model": tiny_causal_lm, "num_beams": 8}
    created = client.post("/v1/collections", json={"name": "g", "indexes": [genre]})
    assert created.status_code == 201, created.text
    [kind] = created.json()["kinds"]
    assert kind["config"]["cache_dir"] == str(settings.model_cache_dir)  # TESSERA_MODEL_CACHE_DIR
    documents = [
        {"id": "a", "title": "Insulin and diabetes", "text": "Insulin lowers glucose."},
        {"id": "b", "title": "Insulin and diabetes", "text": "Another study, same title."},
        {"id": "c", "title": "Honey bees", "text": "Bees dance."},
    ]
    job = client.post("/v1/collections/g/documents", json={"documents": documents})
    assert job.json()["state"] == "succeeded", job.text
    found = client.post("/v1/collections/g/search", json={"query": "insulin", "k": 3})
    assert found.status_code == 200, found.text
    shared = {hit["id"]: hit["shared_names"] for hit in found.json()["hits"]}
    assert shared == {
        "a": [{"name": "Insulin and diabetes", "shared_with": ["b"]}],
        "b": [{"name": "Insulin and diabetes", "shared_with": ["a"]}],
        "c": None,
    }
