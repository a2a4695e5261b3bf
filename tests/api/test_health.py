"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.settings import Settings
from tests.api.support import open_client


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/v1/health").json() == {"status": "ok"}
    ready = client.get("/v1/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"broker": "ok", "storage": "ok", "documents": "ok", "models": "ok"},
    }


def test_not_ready_names_what_failed(settings: Settings) -> None:
    broken = settings.model_copy(
        update={
            "mode": "distributed",
            "broker_url": "redis://127.0.0.1:1/0",
            "ready_models": ["/no/such/model"],
        }
    )
    for client, _ in open_client(broken):
        ready = client.get("/v1/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["storage"] == "ok" and checks["documents"] == "ok"
        assert checks["broker"] != "ok" and "/no/such/model" in checks["models"]


def test_metrics_count_requests_per_route_and_jobs(loaded: TestClient) -> None:
    loaded.post("/v1/collections/docs/search", json={"query": "x"})
    loaded.post("/v1/collections/docs/search", json={"query": "y"})
    loaded.get("/v1/collections/nope")
    text = loaded.get("/metrics").text
    assert (
        'tessera_http_requests_total{method="POST",route="/v1/collections/{name}/search",status="200"} 2.0'
        in text
    )
    assert 'tessera_http_requests_total{method="GET",route="/v1/collections/{name}",status="404"} 1.0' in text
    assert (
        'tessera_http_request_duration_seconds_count{method="POST",route="/v1/collections/{name}/search"} 2.0'
        in text
    )
    assert 'tessera_jobs_submitted_total{type="index.add"} 1.0' in text
