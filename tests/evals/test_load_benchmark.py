"""The HTTP load benchmark's mixed mode against the real API on a loopback port (jobs run inline):
searches and writes at once, every response counted, the write jobs waited for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.http.load import main
from service.api.main import create_app
from service.settings import get_settings
from tests.api.support import EXACT, InlineJobs, make_settings, serve

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_MODE", "embedded")
    get_settings.cache_clear()
    app = create_app(make_settings(tmp_path))
    with serve(app) as base:
        InlineJobs.attach(app)
        yield base
    get_settings.cache_clear()


def test_mixed_load_counts_searches_and_writes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--url", url, "--corpus", str(DATA / "corpus.jsonl"), "--queries", str(DATA / "queries.jsonl")]
    argv += ["--kind", "exact", "--config", json.dumps({"encoder": EXACT["encoder"]}), "--limit", "10"]
    argv += ["--mixed", "1", "--write-batch", "4", "--write-every", "0.3", "--concurrency", "2"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    mixed = report["mixed"]
    assert report["ingest"]["documents"] == 10 and report["ingest"]["failed_jobs"] == 0
    assert set(mixed["responses"]) == {"2xx"} and mixed["dropped_connections"] == {"search": 0, "write": 0}
    assert mixed["write_jobs"] >= 1 and mixed["write_jobs_failed"] == 0
    assert mixed["search"][0]["kind"] == "exact" and mixed["search"][0]["requests"] > 0
