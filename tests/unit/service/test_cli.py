"""The `tessera` client commands against the real API served by uvicorn on a loopback port; jobs
run through the real task functions (the broker is replaced by `InlineJobs`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.api.main import create_app
from service.cli import ExitCode, main
from service.settings import get_settings
from tests.api.support import EXACT, InlineJobs, make_settings, serve

CORPUS = Path(__file__).parents[2] / "data" / "corpus.jsonl"


@dataclass
class Served:
    url: str
    jobs: InlineJobs
    http: httpx.Client

    def collection(self, name: str, documents: bool = True) -> str:
        """Create collection `name` (kind exact, fake encoder), filled with the tiny corpus."""
        assert self.http.post("/v1/collections", json={"name": name, "indexes": [EXACT]}).status_code == 201
        if documents:
            job = self.http.post(
                f"/v1/collections/{name}/documents/jsonl",
                content=CORPUS.read_bytes(),
                headers={"Content-Type": "application/x-ndjson"},
            ).json()
            assert job["state"] == "succeeded", job
        return name

    @contextmanager
    def queue_only(self) -> Iterator[None]:
        """Within: sent jobs wait until `jobs.run_pending()`."""
        self.jobs.run = False
        try:
            yield
        finally:
            self.jobs.run = True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_DATA_DIR", str(data))  # the task functions read the settings
        patch.setenv("TESSERA_MODE", "embedded")
        get_settings.cache_clear()
        app = create_app(make_settings(data))
        with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
            yield Served(url, InlineJobs.attach(app), http)
    get_settings.cache_clear()


def run(served: Served, *argv: str) -> int:
    return main([*argv, "--url", served.url])


def one_json(text: str) -> Any:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return json.loads(lines[0])


def test_create_json_is_one_object(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.dumps({"encoder": EXACT["encoder"]})
    assert run(server, "create", "made", "--kind", "exact", "--config", config, "--json") == ExitCode.OK
    created = one_json(capsys.readouterr().out)
    assert created["name"] == "made" and [kind["kind"] for kind in created["kinds"]] == ["exact"]


def test_search_json_has_the_hits(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("searched")
    assert run(server, "search", name, "insulin blood glucose", "-k", "3", "--text", "--json") == ExitCode.OK
    found = one_json(capsys.readouterr().out)
    assert found["kinds"] == ["exact"] and len(found["hits"]) == 3
    assert found["hits"][0]["id"] == "d01" and "Insulin" in found["hits"][0]["text"]


def test_search_prints_ranked_hits_by_default(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("human")
    assert run(server, "search", name, "insulin blood glucose", "-k", "2", "--text") == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 hits (exact)"
    assert lines[1].split()[:3][::2] == ["1.", "d01"] and lines[1].endswith("Insulin and diabetes")
    assert "Insulin therapy lowers blood glucose" in lines[2]


def test_ingest_json_summary_and_one_bar(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("summary", documents=False)
    assert run(server, "ingest", name, str(CORPUS), "--batch", "8", "--json") == ExitCode.OK
    captured = capsys.readouterr()
    summary = one_json(captured.out)
    assert (summary["documents"], summary["indexed"], summary["kinds"]) == (20, 20, ["exact"])
    assert [job["state"] for job in summary["jobs"]] == ["succeeded"] * 3
    assert captured.err.count("indexing") >= 1 and "20/20" in captured.err and "uploading" not in captured.err


def test_quiet_prints_nothing_on_success(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("quiet", documents=False)
    assert run(server, "ingest", name, str(CORPUS), "--quiet") == ExitCode.OK
    assert run(server, "search", name, "aspirin", "--quiet") == ExitCode.OK
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("command", [["search", "nope", "insulin"], ["ingest", "nope", str(CORPUS)]])
def test_unknown_collection_exits_1(
    server: Served, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert run(server, *command) == ExitCode.FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tessera: error: collection 'nope' does not exist (HTTP 404")


def test_refused_batch_names_its_lines(
    server: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = server.collection("refused", documents=False)
    lines = CORPUS.read_text().splitlines()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join([*lines[:2], "", "{not json", *lines[2:4]]) + "\n")
    assert run(server, "ingest", name, str(corpus), "--batch", "2", "-q") == ExitCode.FAILED
    error = capsys.readouterr().err
    assert error.startswith(f"tessera: error: {corpus}, lines 3-5: ") and "invalid JSON" in error
    assert error.rstrip().endswith("; queued before it: 1 batch")


def test_failed_job_exits_1(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("doomed", documents=False)
    with server.queue_only():
        documents = {"documents": [{"id": "a", "text": "x"}]}
        job = server.http.post(f"/v1/collections/{name}/documents", json=documents)
        assert server.http.delete(f"/v1/collections/{name}").status_code == 204
        server.jobs.run_pending()
    job_id = job.json()["id"]
    assert run(server, "job", job_id, "--wait") == ExitCode.FAILED
    captured = capsys.readouterr()
    assert captured.out.startswith(f"job {job_id}: failed (index.add on {name})")
    assert (
        f"tessera: error: job {job_id} failed: " in captured.err
        and "was deleted after this job was accepted" in captured.err
    )


def test_job_wait_follows_a_queued_job(server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    name = server.collection("later", documents=False)
    with server.queue_only():
        job_id = server.http.post(
            f"/v1/collections/{name}/documents", json={"documents": [{"id": "a", "text": "insulin"}]}
        ).json()["id"]
    runner = threading.Timer(1.5, server.jobs.run_pending)
    runner.start()
    assert run(server, "job", job_id, "--wait", "--json") == ExitCode.OK
    runner.join()
    job = one_json(capsys.readouterr().out)
    assert (job["id"], job["state"], job["result"]["documents"]) == (job_id, "succeeded", 1)


def test_unreachable_server_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    assert main(["search", "docs", "insulin", "--url", f"http://127.0.0.1:{port}"]) == ExitCode.UNREACHABLE
    assert "cannot reach the server at" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["search", "docs"])
    assert exited.value.code == ExitCode.USAGE
    assert main(["create", "docs", "--kind", "exact", "--config", "{nope"]) == ExitCode.USAGE
    assert main(["ingest", "docs", str(tmp_path / "missing.jsonl")]) == ExitCode.USAGE
    (tmp_path / "blank.jsonl").write_text("\n\n")
    assert main(["ingest", "docs", str(tmp_path / "blank.jsonl")]) == ExitCode.USAGE
    errors = capsys.readouterr().err
    assert "--config is not valid JSON" in errors and "cannot read" in errors and "has no documents" in errors


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for code in ExitCode:
        assert f"\n  {code.value:<4} " in out


def test_ingest_bar_follows_job_progress_without_request_logs(server: Served) -> None:
    """The real command in its own process, at log level INFO, while the jobs run a while later:
    stderr holds one progress bar and no request log lines."""
    name = server.collection("watched", documents=False)
    done = threading.Event()

    def work() -> None:
        while not done.wait(0.5):
            server.jobs.run_pending()

    with server.queue_only():
        worker = threading.Thread(target=work)
        worker.start()
        try:
            finished = subprocess.run(
                [sys.executable, "-m", "service.cli", "ingest", name, str(CORPUS), "--batch", "7"]
                + ["--url", server.url],
                env={**os.environ, "TESSERA_LOG_LEVEL": "INFO"},
                capture_output=True,
                timeout=300,
            )
        finally:
            done.set()
            worker.join()
    out, err = finished.stdout.decode(), finished.stderr.decode()  # bytes: keep the bar's carriage returns
    assert finished.returncode == ExitCode.OK, err
    assert out.startswith(f"indexed 20 of 20 documents into {name} (exact) with 3 jobs in ")
    assert "HTTP Request" not in err and "httpx" not in err
    assert err.count("\n") == 1, err  # one bar, closed once; nothing else
    final = err.rstrip("\n").split("\r")[-1]
    assert final.startswith("indexing: 100%") and "20/20" in final and "jobs 3/3" in final
