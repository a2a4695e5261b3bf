"""The memory API: turns in (a job extracts units), query and answer, units, consolidation jobs,
tenant isolation and bad input. The LLM is scripted; the encoder is the fake one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.support import ALPHA, BETA, make_settings

UNIT_FIELDS = {
    "id",
    "text",
    "level",
    "keywords",
    "entities",
    "persons",
    "time",
    "location",
    "source_turn_ids",
    "source_unit_ids",
    "retired",
}
TURNS = [
    {
        "id": f"D1:{i}",
        "speaker": ["Ada", "Ben"][i % 2],
        "session": "s1",
        "text": f"I went to the Paris museum number {i} yesterday with Bob.",
        "timestamp": "2023-05-08T13:56:00Z",
    }
    for i in range(6)
]


def _add(client: TestClient, turns: list[dict[str, Any]], headers: dict[str, str] = ALPHA) -> dict[str, Any]:
    response = client.post("/v1/memory/agent-1/turns", json={"turns": turns}, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_turns_query_answer_and_units(memory_client: TestClient) -> None:
    job = _add(memory_client, TURNS)
    assert job["state"] == "succeeded" and job["type"] == "memory.add_turns", job["error"]
    assert job["result"]["write"]["units"] == 6
    listed = memory_client.get("/v1/memory/agent-1/units?limit=4&offset=0", headers=ALPHA).json()
    assert listed["count"] == 6 and len(listed["data"]) == 4
    assert UNIT_FIELDS <= listed["data"][0].keys()
    assert "(7 May 2023)" in listed["data"][0]["text"]  # "yesterday" made absolute

    query = memory_client.post(
        "/v1/memory/agent-1/query",
        json={"query": "Where did Ada go?", "token_budget": 30},
        headers=ALPHA,
    )
    assert query.status_code == 200, query.text
    body = query.json()
    assert {"context", "tokens", "units", "complexity"} <= body.keys() and body["tokens"] <= 30
    assert body["units"] and {s["id"] for s in body["sources"]} <= {t["id"] for t in TURNS}

    answer = memory_client.post(
        "/v1/memory/agent-1/answer",
        json={"query": "Where did Ada go?", "token_budget": 64},
        headers=ALPHA,
    )
    assert answer.status_code == 200 and answer.json()["answer"] == "Paris"

    unit_id = listed["data"][0]["id"]
    patched = memory_client.patch(
        f"/v1/memory/agent-1/units/{unit_id}", json={"location": "Paris"}, headers=ALPHA
    )
    assert patched.status_code == 200 and patched.json()["location"] == "Paris"
    kept = memory_client.patch(f"/v1/memory/agent-1/units/{unit_id}", json={"text": None}, headers=ALPHA)
    assert kept.status_code == 200 and kept.json()["text"] == listed["data"][0]["text"]
    bad = memory_client.patch(f"/v1/memory/agent-1/units/{unit_id}", json={"level": 3}, headers=ALPHA)
    assert bad.status_code == 422
    assert (
        memory_client.get(f"/v1/memory/agent-1/units/{unit_id}", headers=ALPHA).json()["location"] == "Paris"
    )
    assert memory_client.delete(f"/v1/memory/agent-1/units/{unit_id}", headers=ALPHA).status_code == 204
    assert memory_client.get(f"/v1/memory/agent-1/units/{unit_id}", headers=ALPHA).status_code == 404


def test_consolidation_job_and_delete_everything(memory_client: TestClient) -> None:
    _add(memory_client, TURNS)
    job = memory_client.post("/v1/memory/agent-1/consolidate", headers=ALPHA)
    assert job.status_code == 202
    status = memory_client.get(f"/v1/jobs/{job.json()['id']}", headers=ALPHA).json()
    assert status["state"] == "succeeded" and status["type"] == "memory.consolidate"
    assert status["result"]["consolidation"]["abstracts"] >= 1
    units = memory_client.get("/v1/memory/agent-1/units", headers=ALPHA).json()["data"]
    assert any(u["level"] >= 1 and u["source_unit_ids"] for u in units)
    assert memory_client.get("/v1/memory/agent-1", headers=ALPHA).json()["turns"] == 6
    assert memory_client.delete("/v1/memory/agent-1", headers=ALPHA).status_code == 204
    assert memory_client.get("/v1/memory/agent-1/units", headers=ALPHA).status_code == 404


def test_scheduled_consolidation_queues_each_agent_with_new_units_once(memory_client: TestClient) -> None:
    from workers.tasks import queue_due_consolidations

    _add(memory_client, TURNS)
    _add(memory_client, TURNS[:2], headers=BETA)  # the other tenant's agent of the same id
    queue = memory_client.app.state.services.queue  # type: ignore[attr-defined]
    inline = queue.celery.send_task.__self__  # the InlineJobs stand-in for the broker
    inline.run = False
    first = queue_due_consolidations(queue)
    assert len(first) == 2
    assert queue_due_consolidations(queue) == []  # both still queued: not queued twice
    inline.run_pending()
    status = memory_client.get(f"/v1/jobs/{first[0]}", headers=ALPHA).json()
    assert status["state"] == "succeeded" and status["type"] == "memory.consolidate", status
    assert memory_client.get("/v1/memory/agent-1", headers=ALPHA).json()["units_since_consolidation"] == 0
    assert queue_due_consolidations(queue) == []  # nothing new since


def test_beat_schedule_follows_the_setting(tmp_path: Path) -> None:
    from service.cli import worker_command
    from service.jobs import TASK_MEMORY_SCHEDULE, celery_config
    from workers.tasks import app as worker_app

    on = make_settings(tmp_path, memory_consolidate_every_s=60)
    entry = celery_config(on)["beat_schedule"][TASK_MEMORY_SCHEDULE]
    assert entry["schedule"] == 60 and entry["task"] in worker_app.tasks
    assert "--beat" in worker_command(on)  # embedded: the one worker runs the schedule
    off = make_settings(tmp_path, memory_consolidate_every_s=0)
    assert "beat_schedule" not in celery_config(off) and "--beat" not in worker_command(off)


def test_another_tenant_cannot_reach_the_agent(memory_client: TestClient) -> None:
    job = _add(memory_client, TURNS)
    unit_id = memory_client.get("/v1/memory/agent-1/units", headers=ALPHA).json()["data"][0]["id"]
    for method, path, body in [
        ("GET", "/v1/memory/agent-1/units", None),
        ("GET", f"/v1/memory/agent-1/units/{unit_id}", None),
        ("POST", "/v1/memory/agent-1/query", {"query": "Paris"}),
        ("POST", "/v1/memory/agent-1/answer", {"query": "Paris"}),
        ("DELETE", f"/v1/memory/agent-1/units/{unit_id}", None),
        ("DELETE", "/v1/memory/agent-1", None),
        ("POST", "/v1/memory/agent-1/consolidate", None),
        ("GET", f"/v1/jobs/{job['id']}", None),
    ]:
        response = memory_client.request(method, path, json=body, headers=BETA)
        assert response.status_code == 404, (method, path, response.text)
    assert memory_client.get("/v1/memory/agent-1/units", headers=ALPHA).json()["count"] == 6
    assert memory_client.get("/v1/memory/agent-1/units").status_code == 401


@pytest.mark.parametrize(
    ("turn", "problem"),
    [
        ({"speaker": "A", "text": "", "timestamp": "2023-05-08T10:00:00"}, "text"),
        ({"speaker": "A", "text": "   ", "timestamp": "2023-05-08T10:00:00"}, "text"),
        ({"speaker": "A", "timestamp": "2023-05-08T10:00:00"}, "text"),
        ({"speaker": "A", "text": "hi", "timestamp": "8 May, 2023"}, "timestamp"),
        ({"speaker": "A", "text": "hi", "timestamp": "2023-13-45T10:00:00"}, "timestamp"),
        ({"speaker": "A", "text": "hi", "timestamp": 1683540000}, "timestamp"),
    ],
)
def test_bad_turns_are_422_and_store_nothing(
    memory_client: TestClient, turn: dict[str, Any], problem: str
) -> None:
    good = TURNS[0]
    response = memory_client.post("/v1/memory/agent-1/turns", json={"turns": [good, turn]}, headers=ALPHA)
    assert response.status_code == 422 and problem in response.json()["detail"]
    assert memory_client.get("/v1/memory/agent-1", headers=ALPHA).status_code == 404


def test_unknown_agent_and_bad_requests(memory_client: TestClient) -> None:
    assert (
        memory_client.post("/v1/memory/nobody/query", json={"query": "x"}, headers=ALPHA).status_code == 404
    )
    assert (
        memory_client.post("/v1/memory/bad.agent/query", json={"query": "x"}, headers=ALPHA).status_code
        == 422
    )
    _add(memory_client, TURNS[:2])
    assert (
        memory_client.post("/v1/memory/agent-1/query", json={"query": ""}, headers=ALPHA).status_code == 422
    )
    no_turns = memory_client.post("/v1/memory/agent-1/turns", json={"turns": []}, headers=ALPHA)
    assert no_turns.status_code == 422
    for loose in ({"query": "x", "token_budget": "64"}, {"query": "x", "with_sources": 0}):
        assert memory_client.post("/v1/memory/agent-1/query", json=loose, headers=ALPHA).status_code == 422
    fine = memory_client.post(
        "/v1/memory/agent-1/query", json={"query": "x", "token_budget": 64.0}, headers=ALPHA
    )
    assert fine.status_code == 200
