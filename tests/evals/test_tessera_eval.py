"""`tessera eval` hands its arguments to `python -m evals.beir`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main


def test_tessera_eval_runs_the_beir_cli(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    argv = ["eval", "--data", str(data_dir), "--split", "test", "--kind", "exact"]
    argv += ["--set", 'encoder.model="fake:hash"', "--out", str(out)]
    assert main(argv) == 0
    assert json.loads(out.read_text())["ndcg_at_10"] > 0.8


def test_tessera_eval_reports_bad_arguments(data_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--data", str(data_dir), "--split", "test", "--kind", "nope"]) == 2
    assert "unknown index kind 'nope'" in capfd.readouterr().err
