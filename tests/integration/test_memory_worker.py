"""Memory jobs through real processes: the API in this process writes turns into an agent's local
Qdrant store while a real Celery worker process (Redis broker) extracts and consolidates the same
agent's memory; the per-agent file lock keeps both correct. The worker's LLM is the `openai`
backend pointed at a scripted OpenAI-compatible endpoint served by this test."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.main import create_app
from service.settings import Settings, get_settings
from tests.integration.conftest import wait_job

pytestmark = pytest.mark.integration

MEMORY = '{"encoder": {"model": "fake:hash"}, "window": 4, "filter_threshold": 0.0}'


class ScriptedEndpoint(BaseHTTPRequestHandler):
    """`/v1/chat/completions`: one fact per dialogue line, or an abstract for a consolidation prompt."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        messages = body["messages"]
        user = messages[-1]["content"]
        if user.startswith("Dialogue:"):
            lines = user.splitlines()[1:]
            facts = [
                {"text": f"Ada fact {line.split(']')[0][1:]}", "turns": [line.split("]")[0][1:]]}
                for line in lines
            ]
            content = json.dumps({"facts": facts})
        else:
            content = json.dumps({"text": "Ada adopted several dogs."})
        reply = {
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def turns(session: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{session}:{i}",
            "speaker": "Ada",
            "session": session,
            "text": f"I adopted a dog called Max number {i} in Boston.",
            "timestamp": "2023-05-08T10:00:00Z",
        }
        for i in range(n)
    ]


def test_worker_extracts_and_consolidates_while_the_api_writes(
    redis_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "TESSERA_MEMORY": MEMORY,
        "TESSERA_LLM__BACKEND": "openai",
        "TESSERA_LLM__MODEL": "scripted",
        "TESSERA_LLM__BASE_URL": endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    start_worker(**env)
    with TestClient(create_app(get_settings())) as client:
        first = client.post("/v1/memory/agent-e2e/turns", json={"turns": turns("s1", 4)})
        assert first.status_code == 202
        done = wait_job(client, first.json()["id"], timeout=120)
        assert done["state"] == "succeeded" and done["result"]["write"]["fallbacks"] == 0, done
        consolidation = client.post("/v1/memory/agent-e2e/consolidate")
        second = client.post("/v1/memory/agent-e2e/turns", json={"turns": turns("s2", 4)})  # while it runs
        assert second.status_code == 202
        for job in (consolidation.json(), second.json()):
            done = wait_job(client, job["id"], timeout=120)
            assert done["state"] == "succeeded", done
        units = client.get("/v1/memory/agent-e2e/units?limit=1000").json()["data"]
        sources = {t for unit in units for t in unit["source_turn_ids"]}
        assert {t["id"] for t in turns("s1", 4) + turns("s2", 4)} <= sources
        assert any(unit["level"] == 1 and unit["text"] == "Ada adopted several dogs." for unit in units)
        assert client.get("/v1/memory/agent-e2e").json()["turns"] == 8
