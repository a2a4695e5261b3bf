"""API keys and tenants: no request reads, writes or deletes another tenant's data."""

from __future__ import annotations

from typing import Any

from service.settings import Settings
from tests.api.support import EXACT, KEYS, open_client

ALPHA = {"Authorization": "Bearer key-alpha-0001"}
BETA = {"Authorization": "Bearer key-beta-00002"}


def test_keys_are_required_and_checked(settings: Settings) -> None:
    for client, _ in open_client(settings.model_copy(update={"api_keys": KEYS})):
        missing = client.get("/v1/collections")
        assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = client.get("/v1/collections", headers={"Authorization": "Bearer key-alpha-0002"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
        not_bearer = client.get("/v1/collections", headers={"Authorization": "Basic a2V5LWFscGhhLTAwMDE="})
        assert not_bearer.status_code == 401
        assert client.get("/v1/collections", headers=ALPHA).status_code == 200
        assert client.get("/v1/health").status_code == 200  # probes need no key


def test_tenants_are_isolated(settings: Settings, tiny_records: list[dict[str, Any]]) -> None:
    for client, _ in open_client(settings.model_copy(update={"api_keys": KEYS})):
        assert (
            client.post(
                "/v1/collections", json={"name": "shared", "indexes": [EXACT]}, headers=ALPHA
            ).status_code
            == 201
        )
        job = client.post(
            "/v1/collections/shared/documents", json={"documents": tiny_records}, headers=ALPHA
        ).json()
        assert job["state"] == "succeeded"

        # Beta sees nothing of alpha's, even naming the same collection, documents and job.
        assert client.get("/v1/collections", headers=BETA).json()["count"] == 0
        assert client.get("/v1/collections/shared", headers=BETA).status_code == 404
        assert client.get("/v1/collections/shared/documents/d01", headers=BETA).status_code == 404
        assert (
            client.post("/v1/collections/shared/search", json={"query": "x"}, headers=BETA).status_code == 404
        )
        assert client.get(f"/v1/jobs/{job['id']}", headers=BETA).status_code == 404
        assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=BETA).status_code == 404
        assert client.get("/v1/jobs", headers=BETA).json()["count"] == 0
        assert client.delete("/v1/collections/shared", headers=BETA).status_code == 404
        assert client.post("/v1/collections/shared/build", headers=BETA).status_code == 404

        # Beta's own collection of the same name, where it deletes "alpha's" ids and everything else.
        assert (
            client.post(
                "/v1/collections", json={"name": "shared", "indexes": [EXACT]}, headers=BETA
            ).status_code
            == 201
        )
        client.post("/v1/collections/shared/documents", json={"documents": tiny_records[:2]}, headers=BETA)
        delete = {"ids": [r["id"] for r in tiny_records]}
        assert (
            client.post("/v1/collections/shared/documents/delete", json=delete, headers=BETA).status_code
            == 202
        )
        flt = {"filter": {"must": [{"key": "year", "range": {"gte": 0}}]}}
        assert (
            client.post("/v1/collections/shared/documents/delete", json=flt, headers=BETA).status_code == 202
        )
        assert client.delete("/v1/collections/shared", headers=BETA).status_code == 204

        # Alpha's data is intact.
        assert client.get("/v1/collections/shared", headers=ALPHA).json()["documents"] == 20
        hits = client.post(
            "/v1/collections/shared/search", json={"query": "insulin", "k": 20}, headers=ALPHA
        ).json()
        assert len(hits["hits"]) == 20
        assert client.get("/v1/collections/shared/documents/d01", headers=ALPHA).status_code == 200


def test_every_route_that_reads_or_works_needs_a_key(settings: Settings) -> None:
    """With keys set, every /v1 route of the API answers 401 without one, except the probes."""
    probes = {"/v1/health", "/v1/ready"}
    for client, _ in open_client(settings.model_copy(update={"api_keys": KEYS})):
        paths = client.get("/openapi.json").json()["paths"]
        assert len(paths) > 10
        for route, operations in paths.items():
            if route in probes or not route.startswith("/v1"):
                continue
            path = route.replace("{", "").replace("}", "")  # each parameter named by itself
            for method in operations:
                response = client.request(method.upper(), path, json={})
                assert response.status_code == 401, f"{method} {route} answered {response.status_code}"
