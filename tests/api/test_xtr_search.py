"""The xtr kind through the API: created, filled by a job, searched alone, fused, explained, and its
k' checked against the indexed tokens with a 422."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.support import EXACT

XTR = {"kind": "xtr", "candidate_tokens": 32, "encoder": {"model": "fake:hash", "batch_size": 8}}


def _collection(client: TestClient, records: list[dict[str, Any]], xtr: dict[str, Any]) -> None:
    assert client.post("/v1/collections", json={"name": "x", "indexes": [xtr, EXACT]}).status_code == 201
    job = client.post("/v1/collections/x/documents", json={"documents": records})
    assert job.status_code == 202 and job.json()["state"] == "succeeded", job.text


def test_xtr_alone_hybrid_and_explained(client: TestClient, tiny_records: list[dict[str, Any]]) -> None:
    _collection(client, tiny_records, XTR)
    body = {"query": "does insulin lower blood glucose in diabetes", "k": 3}
    alone = client.post("/v1/collections/x/search", json={**body, "kind": "xtr", "explain": True})
    assert alone.status_code == 200, alone.text
    hits = alone.json()["hits"]
    assert hits[0]["id"] == "d01"
    assert sum(m["score"] for m in hits[0]["matches"]) == pytest.approx(hits[0]["score"], abs=1e-5)
    fused = client.post("/v1/collections/x/search", json={**body, "hybrid": {"kinds": ["xtr", "exact"]}})
    assert fused.status_code == 200 and fused.json()["kinds"] == ["xtr", "exact"]
    assert fused.json()["hits"][0]["id"] == "d01"


def test_k_prime_above_the_indexed_tokens_is_422(
    client: TestClient, tiny_records: list[dict[str, Any]]
) -> None:
    _collection(client, tiny_records[:2], {**XTR, "candidate_tokens": 4096})
    response = client.post("/v1/collections/x/search", json={"query": "insulin", "kind": "xtr"})
    assert response.status_code == 422
    assert "candidate_tokens (k') = 4096 exceeds" in response.text


def test_invalid_xtr_config_is_422(client: TestClient) -> None:
    bad = client.post(
        "/v1/collections", json={"name": "y", "indexes": [{"kind": "xtr", "candidate_tokens": 0}]}
    )
    assert bad.status_code == 422
