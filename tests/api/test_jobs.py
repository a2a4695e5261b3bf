"""Jobs: states, progress, failures, lost workers, listing and cancellation."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

import pytest

from indexers import Doc
from service.core.documents import apply_to_store, submit_index_job
from service.core.queue import JobQueue, new_job_id
from service.core.recovery import recover
from service.jobs import TASK_ADD, JobRecord
from service.schemas.jobs import JobPublic
from service.settings import Settings
from service.writelog import doc_line
from tests.api.support import EXACT, open_client


def test_queued_then_succeeded_and_listed(settings: Settings, tiny_records: list[dict[str, Any]]) -> None:
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        first = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[:10]}).json()
        second = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[10:]}).json()
        assert first["state"] == second["state"] == "queued"
        assert first["links"]["self"] == f"/v1/jobs/{first['id']}"
        assert [name for name, _ in jobs.sent] == ["index.add", "index.add"]

        assert (first["seq"], second["seq"]) == (1, 2)

        jobs.run_pending()  # the first job applies both writes; the second finds nothing left
        done = [client.get(f"/v1/jobs/{job['id']}").json() for job in (first, second)]
        assert done[0]["state"] == done[1]["state"] == "succeeded"
        assert done[0]["result"] == {
            "collection": "docs",
            "seq": 2,
            "entries": 2,
            "documents": 20,
            "versions": {"exact": "v000001"},
            "num_docs": {"exact": 20},
        }
        assert done[1]["result"] == {
            "collection": "docs",
            "seq": 2,
            "entries": 0,
            "documents": 0,
            "applied_by_another_job": True,
        }
        listed = client.get("/v1/jobs").json()
        assert listed["count"] == 2 and [job["id"] for job in listed["data"]] == [second["id"], first["id"]]
        assert client.get("/v1/jobs", params={"collection": "other"}).json()["count"] == 0
        assert client.get("/v1/jobs", params={"limit": 1}).json()["count"] == 1


def test_cancel_a_queued_build_but_not_an_accepted_write(
    settings: Settings, tiny_records: list[dict[str, Any]]
) -> None:
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        add = client.post("/v1/collections/docs/documents", json={"documents": tiny_records}).json()
        refused = client.post(f"/v1/jobs/{add['id']}/cancel")
        assert refused.status_code == 409 and "cannot be cancelled" in refused.json()["detail"]
        build = client.post("/v1/collections/docs/build").json()
        cancelled = client.post(f"/v1/jobs/{build['id']}/cancel")
        assert cancelled.status_code == 202
        assert cancelled.json()["state"] == "cancelled" and cancelled.json()["cancel_requested"]
        jobs.run_pending()  # the add applies; the cancelled build counts for nothing
        assert client.get("/v1/collections/docs").json()["kinds"][0]["version"] == "v000001"
        assert client.get(f"/v1/jobs/{build['id']}").json()["state"] == "cancelled"
        assert client.get(f"/v1/jobs/{add['id']}").json()["state"] == "succeeded"


def test_failed_job_reports_its_error(settings: Settings, tiny_records: list[dict[str, Any]]) -> None:
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        job = client.post("/v1/collections/docs/documents", json={"documents": tiny_records}).json()
        assert client.delete("/v1/collections/docs").status_code == 204
        jobs.run_pending()
        failed = client.get(f"/v1/jobs/{job['id']}").json()
        assert failed["state"] == "failed"
        assert (
            failed["error"].startswith("IndexNotFound")
            and "was deleted after this job was accepted" in failed["error"]
        )


def test_running_job_shows_progress_and_a_lost_worker_stalls_until_a_sync_applies_it(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"job_stale_s": 5.0})
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        job = client.post(
            "/v1/collections/docs/documents", json={"documents": [{"id": "a", "text": "b"}]}
        ).json()
        # What a worker writes while it runs: progress in the task state, and a heartbeat file.
        jobs.backend.store_result(job["id"], {"done": 3, "total": 8}, "PROGRESS")
        beat = settings.data_dir / "jobs" / "default" / f"{job['id']}.heartbeat"
        beat.touch()
        running = client.get(f"/v1/jobs/{job['id']}").json()
        assert running["state"] == "running" and running["progress"] == {"done": 3, "total": 8}
        old = time.time() - 60
        os.utime(beat, (old, old))
        lost = client.get(f"/v1/jobs/{job['id']}").json()
        assert lost["state"] == "stalled" and "worker lost" in lost["error"] and lost["finished_at"] is None
        done = recover(client.app.state.services)  # type: ignore[attr-defined]
        assert list(done.synced) == ["default/docs"] and jobs.sent[-1][0] == "index.sync"
        jobs.run_pending()
        assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"
        assert recover(client.app.state.services).synced == {}  # type: ignore[attr-defined]


def test_unknown_and_malformed_job_ids(client: Any) -> None:
    assert client.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert client.post(f"/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404
    assert client.get("/v1/jobs/..%2F..%2Fetc").status_code in {404, 422}
    assert client.get("/v1/jobs/not-a-uuid").status_code == 422


def job_ids(client: Any, **params: str) -> list[str]:
    return [job["id"] for job in client.get("/v1/jobs", params=params).json()["data"]]


def test_jobs_show_their_times_and_worker_and_filter_by_state(
    settings: Settings, tiny_records: list[dict[str, Any]]
) -> None:
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        first = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[:10]}).json()
        assert first["started_at"] is first["finished_at"] is first["worker"] is None
        jobs.run_pending()
        second = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[10:]}).json()
        done = client.get(f"/v1/jobs/{first['id']}").json()
        assert done["created_at"] <= done["started_at"] <= done["finished_at"]
        assert done["worker"] == {"hostname": socket.gethostname(), "pid": os.getpid()}

        assert job_ids(client, state="succeeded") == [first["id"]]
        assert job_ids(client, state="queued") == [second["id"]]
        assert job_ids(client, state="running") == job_ids(client, state="queued", collection="other") == []
        assert client.get("/v1/jobs", params={"state": "done"}).status_code == 422
        jobs.backend.store_result(second["id"], {"done": 1, "total": 2}, "PROGRESS")
        assert job_ids(client, state="running") == [second["id"]]
        assert client.get("/v1/jobs", params={"state": "running"}).json()["data"][0]["finished_at"] is None


def test_a_page_of_jobs_reads_only_the_states_it_shows(
    settings: Settings, tiny_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[str] = []
    public = JobQueue.public

    def counting(self: JobQueue, record: JobRecord) -> JobPublic:
        shown.append(record.id)
        return public(self, record)

    for client, _ in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        ids = [
            client.post("/v1/collections/docs/documents", json={"documents": [record]}).json()["id"]
            for record in tiny_records[:5]
        ]
        monkeypatch.setattr(JobQueue, "public", counting)
        page = client.get("/v1/jobs", params={"limit": 2}).json()["data"]
        assert [job["id"] for job in page] == ids[:-3:-1] and shown == ids[:-3:-1]


def test_a_job_of_a_deleted_collection_never_writes_to_a_new_one_of_that_name(
    settings: Settings, tiny_records: list[dict[str, Any]]
) -> None:
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        old = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[:5]}).json()
        assert client.delete("/v1/collections/docs").status_code == 204
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        new = client.post("/v1/collections/docs/documents", json={"documents": tiny_records[5:]}).json()
        assert old["seq"] == new["seq"] == 1  # the new collection's log starts again

        name, kwargs = jobs.sent[-1]
        jobs.execute(name, kwargs, new["id"])  # the new write is applied; the old job's is gone
        assert client.get(f"/v1/jobs/{new['id']}").json()["state"] == "succeeded"
        shown = client.get(f"/v1/jobs/{old['id']}").json()
        assert shown["state"] == "failed" and "deleted after this job was accepted" in shown["error"]

        jobs.run_pending()  # the old job, delivered late, fails rather than report the new write
        assert client.get(f"/v1/jobs/{old['id']}").json()["state"] == "failed"
        hits = client.post("/v1/collections/docs/search", json={"query": "insulin", "k": 50}).json()["hits"]
        assert {hit["id"] for hit in hits} <= {record["id"] for record in tiny_records[5:]}


def test_recovery_waits_for_a_write_to_submit_its_job(settings: Settings) -> None:
    """A write appends its entry and submits its job under the log's lock: recovery, running
    between the two, would see the entry with no job and sync it ahead of the write's own job."""
    for client, jobs in open_client(settings, run_jobs=False):
        client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
        services = client.app.state.services  # type: ignore[attr-defined]
        spec = services.catalog.get("default", "docs")
        log = services.layout.write_log("default", "docs")
        passes: list[Any] = []
        with log.appending():
            entry = log.append("add", new_job_id(), [doc_line(Doc(id="a", text="b"))])
            apply_to_store(services, "default", "docs", log)  # the write is stored, not yet submitted
            recovery = threading.Thread(target=lambda found=passes, s=services: found.append(recover(s)))
            recovery.start()
            recovery.join(timeout=0.5)
            assert recovery.is_alive()  # blocked on the lock the write holds
            submit_index_job(services, TASK_ADD, spec, entry)
        recovery.join(timeout=10)
        assert passes[0].synced == {} and [name for name, _ in jobs.sent] == ["index.add"]
