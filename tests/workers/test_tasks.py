"""Index tasks called directly with payload dicts (no broker): the write log applied in order to
every kind at once, reruns, crashes between kinds, cancellation, the collection lock, task options."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Ignore

from indexers.base import Doc
from indexers.errors import IndexNotFound, InvalidInput
from indexers.storage.versions import Manifest, current_version, open_current, read_manifest
from service.jobs import JobRecord, Layout, WorkerInfo, collection_lock
from service.settings import get_settings
from service.writelog import WriteOp, doc_line

FAKE = {"model": "fake:hash", "batch_size": 8}


@pytest.fixture()
def layout(make_layout: Callable[..., Layout]) -> Layout:
    return make_layout([{"kind": "exact", "encoder": FAKE}, {"kind": "dense", "encoder": FAKE}])


def write(layout: Layout, op: WriteOp, job_id: str, items: list[Doc] | list[str]) -> int:
    """Accept a write as the API does (append it to the log; the store applies it); returns its seq."""
    log = layout.write_log("t", "c")
    lines = [doc_line(item) if isinstance(item, Doc) else json.dumps(item) for item in items]
    with log.appending():
        entry = log.append(op, job_id, lines)
        log.mark_stored(entry.seq)
    return entry.seq


def payload(job_id: str, seq: int) -> dict[str, Any]:
    return {"payload": {"job_id": job_id, "tenant": "t", "collection": "c", "seq": seq}}


def live_ids(layout: Layout, kind: str) -> set[str]:
    return set(open_current(layout.index_root("t", "c"), kind).docs.by_ext)


def test_build_then_add_then_delete(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents, build_collection, delete_documents

    root = layout.index_root("t", "c")
    result = build_collection(**payload("j1", write(layout, "build", "j1", tiny_docs[:12])))
    assert result == {
        "collection": "c",
        "seq": 1,
        "entries": 1,
        "documents": 12,
        "versions": {"exact": "v000001", "dense": "v000001"},
        "num_docs": {"exact": 12, "dense": 12},
    }
    assert read_manifest(root) == Manifest(versions={"exact": "v000001", "dense": "v000001"}, seq=1)
    assert layout.write_log("t", "c").entries() == []  # applied everywhere: gone from the log

    result = add_documents(**payload("j2", write(layout, "add", "j2", tiny_docs[10:])))
    assert result["num_docs"] == {"exact": 20, "dense": 20}  # d11 and d12 were replaced, not duplicated
    assert current_version(root, "exact") == "v000002"

    result = delete_documents(**payload("j3", write(layout, "delete", "j3", ["d01", "nope"])))
    assert result["versions"] == {"exact": "v000003", "dense": "v000003"}
    for kind in ("exact", "dense"):
        index = open_current(root, kind)
        assert index.num_docs == 19
        assert "d01" not in {hit.doc_id for hit in index.search(["insulin diabetes"], k=20)[0]}

    # Deleting only unknown ids makes no new version, but the write is applied (seq 4).
    assert delete_documents(**payload("j4", write(layout, "delete", "j4", ["nope"])))["seq"] == 4
    assert read_manifest(root) == Manifest(versions={"exact": "v000003", "dense": "v000003"}, seq=4)


def test_a_rerun_or_late_job_finds_its_write_applied(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    first = add_documents(**payload("j1", write(layout, "add", "j1", tiny_docs)))
    again = add_documents(**payload("j1", 1))  # a redelivery
    assert first["num_docs"] == {"exact": 20, "dense": 20}
    assert "applied_by_another_job" not in first
    assert again == {
        "collection": "c",
        "seq": 1,
        "entries": 0,
        "documents": 0,
        "applied_by_another_job": True,
    }
    assert current_version(layout.index_root("t", "c"), "exact") == "v000001"


def test_writes_apply_in_acceptance_order_whichever_job_runs_first(
    layout: Layout, tiny_docs: list[Doc]
) -> None:
    from workers.tasks import add_documents, build_collection

    build = write(layout, "build", "b", tiny_docs[:12])
    late_add = write(layout, "add", "a1", tiny_docs[12:16])
    later_add = write(layout, "add", "a2", tiny_docs[16:])
    delete = write(layout, "delete", "d", ["d01"])
    # The last job runs first (another worker, a redelivery): it applies everything before it too.
    assert add_documents(**payload("a2", later_add))["entries"] == 4
    # The build runs last, as a redelivered build would: it must not roll the later writes back.
    late_build = build_collection(**payload("b", build))
    assert late_build["entries"] == 0 and late_build["applied_by_another_job"]
    assert add_documents(**payload("a1", late_add))["entries"] == 0
    expected = {doc.id for doc in tiny_docs} - {"d01"}
    assert live_ids(layout, "exact") == live_ids(layout, "dense") == expected
    assert read_manifest(layout.index_root("t", "c")).seq == delete  # type: ignore[union-attr]


def test_one_write_reaches_every_kind_or_none(
    layout: Layout, tiny_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import sync
    from workers.tasks import add_documents

    add_documents(**payload("j1", write(layout, "add", "j1", tiny_docs[:10])))
    save = sync.save_version

    def crash_on_dense(index: Any, root: Path, name: str) -> str:
        if name == "dense":
            raise OSError("disk gone")  # the process dies between the kinds' saves
        return save(index, root, name)

    monkeypatch.setattr(sync, "save_version", crash_on_dense)
    seq = write(layout, "add", "j2", tiny_docs[10:])
    with pytest.raises(OSError, match="disk gone"):
        add_documents(**payload("j2", seq))
    # exact saved a new version, but nothing went live: both kinds still show the first write.
    assert live_ids(layout, "exact") == live_ids(layout, "dense") == {doc.id for doc in tiny_docs[:10]}
    monkeypatch.setattr(sync, "save_version", save)
    assert add_documents(**payload("j2", seq))["entries"] == 1
    assert live_ids(layout, "exact") == live_ids(layout, "dense") == {doc.id for doc in tiny_docs}


def test_cancelled_build_commits_nothing_and_later_jobs_skip_it(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import CANCELLED, add_documents, build_collection

    layout.job_file("t", "j1", "cancel").parent.mkdir(parents=True, exist_ok=True)
    layout.job_file("t", "j1", "cancel").touch()
    seq = write(layout, "build", "j1", tiny_docs)
    with pytest.raises(Ignore):
        build_collection(**payload("j1", seq))
    with pytest.raises(IndexNotFound):
        current_version(layout.index_root("t", "c"), "exact")
    assert build_collection.AsyncResult("j1").state == CANCELLED
    result = add_documents(**payload("j2", write(layout, "add", "j2", tiny_docs[:3])))
    assert result["entries"] == 2 and result["num_docs"] == {"exact": 3, "dense": 3}


def test_missing_collection_and_a_bad_log_entry_fail_cleanly(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    seq = write(layout, "add", "j1", tiny_docs[:2])
    log_file = layout.write_log("t", "c").folder / f"{seq:012d}.jsonl"
    log_file.write_text(log_file.read_text() + "not json\n")
    with pytest.raises(InvalidInput, match=f"{log_file.name} line 4"):
        add_documents(**payload("j1", seq))
    layout.spec_file("t", "c").unlink()
    with pytest.raises(IndexNotFound, match="was deleted after this job was accepted"):
        add_documents(**payload("j2", seq))


def test_jobs_wait_for_the_collection_lock(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents

    seq = write(layout, "add", "j1", tiny_docs)
    finished: list[float] = []
    with collection_lock(layout.lock_file("t", "c")):
        worker = threading.Thread(
            target=lambda: finished.append(add_documents(**payload("j1", seq)) and time.time())
        )
        worker.start()
        time.sleep(0.5)
        assert not finished  # blocked behind the lock
        released = time.time()
    worker.join(timeout=30)
    assert finished and finished[0] >= released


def test_task_options() -> None:
    from workers.tasks import add_documents, app, build_collection, delete_documents, sync_index

    assert {task.name for task in (build_collection, add_documents, delete_documents, sync_index)} == {
        "index.build",
        "index.add",
        "index.delete",
        "index.sync",
    }
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json" and app.conf.task_track_started
    assert build_collection.autoretry_for == (OSError,)
    assert FileNotFoundError in build_collection.dont_autoretry_for


def test_tasks_note_start_end_and_worker_in_the_job_record(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents, build_collection

    for job_id in ("j1", "j2"):
        layout.write_record(JobRecord(id=job_id, type="index.add", tenant="t", collection="c"))
    add_documents(**payload("j1", write(layout, "add", "j1", tiny_docs)))
    record = layout.read_record("t", "j1")
    assert record is not None and record.started_at is not None and record.finished_at is not None
    assert record.created_at <= record.started_at <= record.finished_at
    assert record.worker == WorkerInfo(hostname=socket.gethostname(), pid=os.getpid())
    layout.job_file("t", "j2", "cancel").touch()  # a cancelled job ends too, without starting
    with pytest.raises(Ignore):
        build_collection(**payload("j2", write(layout, "build", "j2", tiny_docs)))
    cancelled = layout.read_record("t", "j2")
    assert cancelled is not None and cancelled.started_at is None and cancelled.finished_at is not None
    add_documents(**payload("j3", write(layout, "add", "j3", tiny_docs)))  # no record: none made
    assert layout.read_record("t", "j3") is None


def test_kinds_sharing_an_encoder_encode_each_document_once(
    layout: Layout, tiny_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexers.models.encoders import FakeTokenEncoder
    from workers.tasks import build_collection

    rows: list[int] = []
    forward = FakeTokenEncoder._forward

    def counting(self: FakeTokenEncoder, batch: list[list[int]]) -> Any:
        rows.append(len(batch))
        return forward(self, batch)

    monkeypatch.setattr(FakeTokenEncoder, "_forward", counting)
    build_collection(**payload("j1", write(layout, "build", "j1", tiny_docs)))
    assert sum(rows) == len(tiny_docs)  # exact and dense: one model run per document

    monkeypatch.setenv("TESSERA_ENCODING_CACHE_MB", "0")
    get_settings.cache_clear()
    rows.clear()
    build_collection(**payload("j2", write(layout, "build", "j2", tiny_docs)))
    assert sum(rows) == 2 * len(tiny_docs)
