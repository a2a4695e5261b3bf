"""The fault-injection benchmark runs end to end: one kill of `tessera serve` in embedded mode while
a client writes, a clean restart, and no acknowledged write lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.faults import CHECKS, main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_one_round_of_embedded_mode(tmp_path: Path) -> None:
    out = tmp_path / "faults"
    args = ["--mode", "embedded", "--rounds", "1", "--window", "1", "2", "--settle-s", "60"]
    code = main([*args, "--out", str(out)])
    report = json.loads(out.with_name("faults.json").read_text())
    (row,) = report["modes"]
    assert row["kills"] == {"api": 1, "worker": 0, "both": 0}
    assert row["acknowledged_docs"] > 0 and row["stored_docs"] > 0
    assert {column: row[column] for column in CHECKS} == dict.fromkeys(CHECKS, 0), row["examples"]
    assert code == 0
    assert "| embedded | 1 |" in out.with_name("faults.md").read_text()
