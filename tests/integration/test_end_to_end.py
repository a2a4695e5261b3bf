"""The whole flow through real processes: create, ingest, wait, search, delete, search again.

Distributed: the API in this process (TestClient), a real Celery worker process, Redis as broker
and result backend. Embedded: `tessera serve` (API + worker child, SQLite broker, Qdrant local).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from indexers.base import Doc
from service.api.main import create_app
from service.settings import Settings
from tests.integration.conftest import PYTHON, wait_http, wait_job

pytestmark = pytest.mark.integration

EXACT = {"kind": "exact", "encoder": {"model": "fake:hash", "batch_size": 8}}
DENSE = {"kind": "dense", "encoder": {"model": "fake:hash", "batch_size": 8}}


def records(docs: list[Doc]) -> list[dict[str, Any]]:
    return [{"id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata} for d in docs]


def flow(client: Any, docs: list[Doc], corpus: Path) -> None:
    """create -> ingest (JSON + JSONL) -> wait -> search -> delete -> wait -> search -> rebuild."""
    assert client.post("/v1/collections", json={"name": "e2e", "indexes": [EXACT, DENSE]}).status_code == 201
    first = client.post("/v1/collections/e2e/documents", json={"documents": records(docs[:10])})
    assert first.status_code == 202
    second = client.post(
        "/v1/collections/e2e/documents/jsonl",
        content=b"".join(corpus.read_bytes().splitlines(keepends=True)[10:]),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert second.status_code == 202
    for job in (first.json(), second.json()):
        done = wait_job(client, job["id"])
        assert done["state"] == "succeeded", done
    stats = client.get("/v1/collections/e2e").json()
    assert stats["documents"] == 20 and len({k["version"] for k in stats["kinds"]}) == 1

    hits = client.post("/v1/collections/e2e/search", json={"query": "insulin blood glucose", "k": 3}).json()[
        "hits"
    ]
    assert hits[0]["id"] == "d01"
    fused = client.post("/v1/collections/e2e/search", json={"query": "insulin", "k": 20, "hybrid": {}}).json()
    assert len(fused["hits"]) == 20

    deleted = client.post("/v1/collections/e2e/documents/delete", json={"ids": ["d01"]}).json()
    assert wait_job(client, deleted["id"])["state"] == "succeeded"
    before = {k["version"] for k in stats["kinds"]}
    stats = client.get("/v1/collections/e2e").json()
    after = {k["version"] for k in stats["kinds"]}
    assert stats["documents"] == 19 and len(after) == 1 and after != before
    for kind in ("exact", "dense"):
        hits = client.post(
            "/v1/collections/e2e/search", json={"query": "insulin", "k": 20, "kind": kind}
        ).json()
        assert "d01" not in [h["id"] for h in hits["hits"]] and len(hits["hits"]) == 19

    rebuilt = client.post("/v1/collections/e2e/build").json()
    done = wait_job(client, rebuilt["id"])
    assert done["state"] == "succeeded" and done["type"] == "index.build"
    # the job reports what it applied, or that a job queued earlier applied its entry (every index
    # job applies all the entries it finds, and the worker may still hold the ingestion's second job)
    result = done["result"]
    assert result.get("applied_by_another_job") or result["num_docs"] == {"exact": 19, "dense": 19}
    rebuilt_stats = client.get("/v1/collections/e2e").json()
    assert {k["version"] for k in rebuilt_stats["kinds"]} != after and rebuilt_stats["documents"] == 19
    for kind in ("exact", "dense"):
        body = {"query": "insulin", "k": 20, "kind": kind}
        assert len(client.post("/v1/collections/e2e/search", json=body).json()["hits"]) == 19


def test_distributed_with_redis_and_a_real_worker(
    redis_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tiny_docs: list[Doc],
    data_dir: Path,
) -> None:
    start_worker()
    with TestClient(create_app(redis_settings)) as client:
        assert client.get("/v1/ready").json()["checks"]["broker"] == "ok"
        flow(client, tiny_docs, data_dir / "corpus.jsonl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_embedded_serve_without_redis(tmp_path: Path, tiny_docs: list[Doc], data_dir: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {"TESSERA_READY_MODELS": "[]", "TESSERA_BROKER_URL": "redis://127.0.0.1:1/0"}  # Redis unused
    server = subprocess.Popen(
        [PYTHON, "-m", "service.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            ready = client.get("/v1/ready").json()
            assert ready["status"] == "ready", ready
            flow(client, tiny_docs, data_dir / "corpus.jsonl")
        assert (tmp_path / "broker.sqlite").exists() and (tmp_path / "qdrant").is_dir()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout
    assert children == "", "the embedded worker outlived `tessera serve`"
