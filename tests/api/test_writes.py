"""Accepted writes survive a crash of the API or of a worker, apply in order, and retries are safe."""

from __future__ import annotations

from typing import Any

from kombu.exceptions import OperationalError

from indexers.base import Doc
from service.core.recovery import recover
from service.jobs import Layout
from service.settings import Settings
from service.writelog import doc_line
from tests.api.support import EXACT, open_client


def _ids(client: Any, collection: str = "docs") -> set[str]:
    hits = client.post(f"/v1/collections/{collection}/search", json={"query": "the", "k": 100}).json()
    return {hit["id"] for hit in hits["hits"]}


def test_a_write_the_api_accepted_but_never_stored_is_applied_at_restart(
    settings: Settings, tiny_docs: list[Doc]
) -> None:
    for client, _ in open_client(settings):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        client.post("/v1/collections/docs/documents", json={"documents": [{"id": "a", "text": "the one"}]})
    # The API died right after the write's commit point: in the log, not in the store, no job sent.
    log = Layout(settings.data_dir).write_log("default", "docs")
    with log.appending():
        log.append("add", "lost-job", map(doc_line, tiny_docs[:5]))
    for client, _ in open_client(settings):  # restart: recovery runs before the API serves
        for doc in tiny_docs[:5]:
            assert client.get(f"/v1/collections/docs/documents/{doc.id}").status_code == 200
        # The startup pass enqueued a sync job before this test's inline jobs were attached; once that
        # job counts as lost, the next pass sends another, which runs here.
        client.app.state.services.settings.job_stale_s = 0.01  # type: ignore[attr-defined]
        assert list(recover(client.app.state.services).synced) == ["default/docs"]  # type: ignore[attr-defined]
        assert _ids(client) == {"a"} | {doc.id for doc in tiny_docs[:5]}
        assert log.entries() == []


def test_retrying_an_add_is_safe_and_other_content_conflicts(
    settings: Settings, tiny_records: list[dict[str, Any]]
) -> None:
    for client, _ in open_client(settings):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        batch = {"documents": tiny_records[:4], "mode": "add"}
        first = client.post("/v1/collections/docs/documents", json=batch)
        retry = client.post("/v1/collections/docs/documents", json=batch)  # the reply was lost
        assert first.status_code == retry.status_code == 202
        assert client.get(f"/v1/jobs/{retry.json()['id']}").json()["state"] == "succeeded"
        changed = {"documents": [{**tiny_records[0], "text": "something else"}], "mode": "add"}
        conflict = client.post("/v1/collections/docs/documents", json=changed)
        assert conflict.status_code == 409 and "other content" in conflict.json()["detail"]
        assert client.get("/v1/collections/docs").json()["documents"] == 4
        assert _ids(client) == {record["id"] for record in tiny_records[:4]}


def test_a_write_is_accepted_while_the_broker_is_down_and_synced_later(
    settings: Settings, tiny_records: list[dict[str, Any]]
) -> None:
    settings = settings.model_copy(update={"job_stale_s": 0.01})
    for client, jobs in open_client(settings):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        send = jobs.send_task

        def down(*_: Any, **__: Any) -> None:
            raise OperationalError("broker down")

        client.app.state.services.queue.celery.send_task = down  # type: ignore[attr-defined]
        accepted = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[:3]})
        assert accepted.status_code == 202 and accepted.json()["state"] == "queued"
        assert client.get(f"/v1/collections/docs/documents/{tiny_records[0]['id']}").status_code == 200
        client.app.state.services.queue.celery.send_task = send  # type: ignore[attr-defined]
        synced = recover(client.app.state.services).synced  # type: ignore[attr-defined]
        assert list(synced) == ["default/docs"]
        assert client.get(f"/v1/jobs/{accepted.json()['id']}").json()["state"] == "succeeded"
        assert _ids(client) == {record["id"] for record in tiny_records[:3]}
