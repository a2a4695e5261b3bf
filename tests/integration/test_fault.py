"""Kill the worker in the middle of a build: the collection keeps serving the previous version, the
job is reported stalled while no worker holds it, and its write is applied on the next worker (by the
API's recovery sync job or by the broker's redelivery, whichever comes first)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from indexers.base import Doc
from service.api.main import create_app
from service.settings import Settings
from tests.integration.conftest import wait_job

pytestmark = pytest.mark.integration

# A wide fake encoder makes the build take a few seconds without a real model; the visibility
# timeout (8 s) must exceed the build so a live run is never redelivered.
SLOW_EXACT = {"kind": "exact", "encoder": {"model": "fake:hash:1024", "batch_size": 4}}


def test_worker_killed_mid_build(
    redis_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tiny_docs: list[Doc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = redis_settings.model_copy(update={"job_stale_s": 2.0, "visibility_timeout_s": 8})
    worker_env = {"TESSERA_VISIBILITY_TIMEOUT_S": "8"}
    first_worker = start_worker(**worker_env)
    rng = random.Random(0)
    words = [f"w{i}" for i in range(2000)]
    bulk = [{"id": f"x{i}", "text": " ".join(rng.choices(words, k=60))} for i in range(1500)]
    with TestClient(create_app(settings)) as client:
        client.post("/v1/collections", json={"name": "f", "indexes": [SLOW_EXACT]})
        small = [{"id": d.id, "text": d.text, "title": d.title} for d in tiny_docs]
        job = client.post("/v1/collections/f/documents", json={"documents": small}).json()
        assert wait_job(client, job["id"])["state"] == "succeeded"

        big = client.post("/v1/collections/f/documents", json={"documents": bulk}).json()
        running = wait_job(client, big["id"], states={"running"}, timeout=60)
        deadline = time.monotonic() + 30
        while (running["progress"] or {}).get("done", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            running = client.get(f"/v1/jobs/{big['id']}").json()
        assert running["state"] == "running" and running["progress"]["done"] > 0
        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait()

        # The previous version keeps serving; nothing half-built is visible.
        stats = client.get("/v1/collections/f").json()
        assert stats["kinds"][0]["version"] == "v000001"
        hits = client.post("/v1/collections/f/search", json={"query": "insulin", "k": 50}).json()["hits"]
        assert len(hits) == 20 and all(not h["id"].startswith("x") for h in hits)

        lost = wait_job(client, big["id"], states={"stalled"}, timeout=15)
        assert "worker lost" in lost["error"]

        start_worker(**worker_env)  # a sync job from recovery (or the broker's redelivery) applies the write
        wait_job(client, big["id"], states={"succeeded"}, timeout=90)
        assert client.get("/v1/collections/f").json()["kinds"][0]["version"] == "v000002"
        hits = client.post("/v1/collections/f/search", json={"query": "w1 w2 w3", "k": 5}).json()["hits"]
        assert hits and all(h["id"].startswith("x") for h in hits)
