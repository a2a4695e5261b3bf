"""Index tasks called directly with payload dicts (no broker): builds, adds, deletes, versions,
cancellation, the collection lock and the retry policy."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Ignore

from indexers.base import Doc
from indexers.configs import parse_config
from indexers.errors import IndexNotFound, InvalidInput
from indexers.storage.versions import atomic_write, current_version, open_current
from service.jobs import CollectionSpec, JobRecord, Layout, WorkerInfo, celery_config, collection_lock
from service.settings import get_settings

FAKE = {"model": "fake:hash", "batch_size": 8}


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Layout]:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_MODE", "embedded")
    get_settings.cache_clear()
    layout = Layout(tmp_path)
    spec = CollectionSpec(
        name="c",
        tenant="t",
        configs=[
            parse_config({"kind": "exact", "encoder": FAKE}),
            parse_config({"kind": "dense", "encoder": FAKE}),
        ],
    )
    atomic_write(layout.spec_file("t", "c"), spec.model_dump_json())
    yield layout
    get_settings.cache_clear()


def stage(layout: Layout, name: str, docs: list[Doc]) -> str:
    lines = [
        json.dumps({"_id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata}) for d in docs
    ]
    atomic_write(layout.staging_file(name), "\n".join(lines) + "\n")
    return name


def payload(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"payload": {"job_id": job_id, "tenant": "t", "collection": "c", **fields}}


def test_build_then_add_then_delete(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents, build_collection, delete_documents

    root = layout.index_root("t", "c")
    result = build_collection(**payload("j1", staging=stage(layout, "j1.jsonl", tiny_docs[:12])))
    assert result == {
        "collection": "c",
        "documents": 12,
        "versions": {"exact": "v000001", "dense": "v000001"},
        "num_docs": {"exact": 12, "dense": 12},
    }
    assert not layout.staging_file("j1.jsonl").exists()

    result = add_documents(**payload("j2", staging=stage(layout, "j2.jsonl", tiny_docs[10:])))
    assert result["num_docs"] == {"exact": 20, "dense": 20}  # d11 and d12 were replaced, not duplicated
    assert current_version(root, "exact") == "v000002"

    result = delete_documents(**payload("j3", ids=["d01", "nope"]))
    assert result["versions"] == {"exact": "v000003", "dense": "v000003"}
    for kind in ("exact", "dense"):
        index = open_current(root, kind)
        assert index.num_docs == 19
        assert "d01" not in {hit.doc_id for hit in index.search(["insulin diabetes"], k=20)[0]}

    # Deleting only unknown ids commits nothing new.
    assert delete_documents(**payload("j4", ids=["nope"]))["versions"] == {}
    assert current_version(root, "exact") == "v000003"


def test_rerun_of_the_same_add_is_harmless(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    first = add_documents(**payload("j1", staging=stage(layout, "j1.jsonl", tiny_docs)))
    again = add_documents(**payload("j1", staging=stage(layout, "j1.jsonl", tiny_docs)))  # a redelivery
    assert first["num_docs"] == again["num_docs"] == {"exact": 20, "dense": 20}
    assert again["versions"] == {"exact": "v000002", "dense": "v000002"}


def test_cancelled_job_commits_nothing(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import CANCELLED, build_collection

    layout.job_file("t", "j1", "cancel").parent.mkdir(parents=True, exist_ok=True)
    layout.job_file("t", "j1", "cancel").touch()
    with pytest.raises(Ignore):
        build_collection(**payload("j1", staging=stage(layout, "j1.jsonl", tiny_docs)))
    with pytest.raises(IndexNotFound):
        current_version(layout.index_root("t", "c"), "exact")
    assert build_collection.AsyncResult("j1").state == CANCELLED


def test_missing_collection_and_bad_staging_fail_cleanly(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    bad = layout.staging_file("bad.jsonl")
    atomic_write(bad, '{"_id": "a", "text": "fine"}\nnot json\n')
    with pytest.raises(InvalidInput, match="bad.jsonl:2"):
        add_documents(**payload("j1", staging="bad.jsonl"))
    layout.spec_file("t", "c").unlink()
    with pytest.raises(IndexNotFound, match="no longer exists"):
        add_documents(**payload("j2", staging=stage(layout, "j2.jsonl", tiny_docs)))


def test_jobs_wait_for_the_collection_lock(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    name = stage(layout, "j1.jsonl", tiny_docs)
    finished: list[float] = []
    with collection_lock(layout.lock_file("t", "c")):
        worker = threading.Thread(
            target=lambda: finished.append(add_documents(**payload("j1", staging=name)) and time.time())
        )
        worker.start()
        time.sleep(0.5)
        assert not finished  # blocked behind the lock
        released = time.time()
    worker.join(timeout=30)
    assert finished and finished[0] >= released


def test_task_options() -> None:
    from workers.tasks import add_documents, app, build_collection, delete_documents

    assert {task.name for task in (build_collection, add_documents, delete_documents)} == {
        "index.build",
        "index.add",
        "index.delete",
    }
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json" and app.conf.task_track_started
    assert build_collection.autoretry_for == (OSError,)
    assert FileNotFoundError in build_collection.dont_autoretry_for


def test_tasks_note_start_end_and_worker_in_the_job_record(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents, build_collection

    for job_id in ("j1", "j2"):
        layout.write_record(JobRecord(id=job_id, type="index.add", tenant="t", collection="c"))
    add_documents(**payload("j1", staging=stage(layout, "j1.jsonl", tiny_docs)))
    record = layout.read_record("t", "j1")
    assert record is not None and record.started_at is not None and record.finished_at is not None
    assert record.created_at <= record.started_at <= record.finished_at
    assert record.worker == WorkerInfo(hostname=socket.gethostname(), pid=os.getpid())
    layout.job_file("t", "j2", "cancel").touch()  # a cancelled job ends too, without starting
    with pytest.raises(Ignore):
        build_collection(**payload("j2", staging=stage(layout, "j2.jsonl", tiny_docs)))
    cancelled = layout.read_record("t", "j2")
    assert cancelled is not None and cancelled.started_at is None and cancelled.finished_at is not None
    add_documents(**payload("j3", staging=stage(layout, "j3.jsonl", tiny_docs)))  # no record: none made
    assert layout.read_record("t", "j3") is None


def test_the_staging_file_goes_when_the_job_ends_and_stays_for_a_retry(
    layout: Layout, tiny_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.tasks import add_documents, build_collection

    add_documents(**payload("ok", staging=stage(layout, "ok.jsonl", tiny_docs)))
    atomic_write(layout.staging_file("bad.jsonl"), "not json\n")
    with pytest.raises(InvalidInput):
        add_documents(**payload("bad", staging="bad.jsonl"))
    layout.job_file("t", "stop", "cancel").parent.mkdir(parents=True, exist_ok=True)
    layout.job_file("t", "stop", "cancel").touch()
    with pytest.raises(Ignore):
        build_collection(**payload("stop", staging=stage(layout, "stop.jsonl", tiny_docs)))
    assert not list(layout.staging_dir().iterdir())

    def unreachable(*_: Any, **__: Any) -> dict[str, Any]:
        raise ConnectionError("storage unreachable")  # transient: Celery retries the job

    monkeypatch.setattr("workers.tasks._write_all", unreachable)
    with pytest.raises(ConnectionError):
        add_documents(**payload("again", staging=stage(layout, "again.jsonl", tiny_docs)))
    assert layout.staging_file("again.jsonl").exists()


def test_the_sweep_removes_old_staging_files_of_ended_or_unknown_jobs(
    layout: Layout, tiny_docs: list[Doc]
) -> None:
    from service.core.queue import JobQueue
    from workers.tasks import sweep_staging

    settings = get_settings()
    assert "jobs.sweep_staging" in celery_config(settings)["beat_schedule"]
    queue = JobQueue(settings, layout)
    for job_id in ("done", "queued", "silent", "unknown", "young"):
        stage(layout, f"{job_id}.jsonl", tiny_docs[:1])
    for job_id in ("done", "queued", "silent"):
        layout.write_record(JobRecord(id=job_id, type="index.add", tenant="t", collection="c"))
    queue.celery.backend.mark_as_done("done", {})
    queue.celery.backend.store_result("silent", {"done": 1, "total": 2}, "PROGRESS")  # no heartbeat
    queue.close()
    (layout.staging_dir() / ".unknown.jsonl.1f2e").write_text("an interrupted write")
    old = time.time() - settings.staging_max_age_s - 60
    for path in layout.staging_dir().iterdir():
        if path.name != "young.jsonl":
            os.utime(path, (old, old))
    assert sorted(sweep_staging()["removed"]) == [".unknown.jsonl.1f2e", "done.jsonl", "unknown.jsonl"]
    assert sorted(p.name for p in layout.staging_dir().iterdir()) == [
        "queued.jsonl",
        "silent.jsonl",
        "young.jsonl",
    ]
