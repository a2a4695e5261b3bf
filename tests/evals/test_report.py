"""`evals.report`: Markdown tables and the JSON / Markdown result files."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import evals.report
from evals.report import MISSING, cell, markdown_table, paired_table, write_report


def test_doctests_pass() -> None:
    assert doctest.testmod(evals.report).failed == 0


def test_alignment_and_missing_cells() -> None:
    table = markdown_table(
        ["conversation", "method", "F1"],
        [["c1", "rag", cell(0.25, ".3f")], ["c2", "full", None]],
        text_columns=2,
    )
    assert table.splitlines() == [
        "| conversation | method | F1 |",
        "|---|---|---:|",
        "| c1 | rag | 0.250 |",
        f"| c2 | full | {MISSING} |",
    ]
    assert markdown_table(["k'", "nDCG@10"], [[32, "0.7"]], text_columns=0).splitlines()[1] == "|---:|---:|"
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [["only one"]])


def test_write_report_writes_both_files(tmp_path: Path) -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    md, js = write_report(
        tmp_path / "out" / "scifact-dev-beir", "# Title\n\n| a |\n", {"at": when, "p": tmp_path}
    )
    assert (md.name, js.name) == ("scifact-dev-beir.md", "scifact-dev-beir.json")
    assert md.read_text() == "# Title\n\n| a |\n"
    assert json.loads(js.read_text()) == {"at": str(when), "p": str(tmp_path)}


def test_paired_table_explains_and_lists_each_comparison() -> None:
    better = {"mean_diff": 0.05, "wins": 6, "losses": 1, "ties": 3, "p_value": 0.00019998}
    worse = {"mean_diff": -0.0012, "wins": 2, "losses": 4, "ties": 4, "p_value": 0.5, "baseline": "bm25"}
    sentence, blank, table = paired_table([("dense", "bm25", better), ("rrf", "dense", worse)], rounds=2000)
    assert blank == "" and "mean difference (2,000 rounds)" in sentence
    assert table.splitlines() == [
        "| compared | against | nDCG@10 difference | wins / losses / ties | p |",
        "|---|---|---:|---:|---:|",
        "| dense | bm25 | +0.0500 | 6 / 1 / 3 | 0.0002 |",
        "| rrf | dense | -0.0012 | 2 / 4 / 4 | 0.5000 |",
    ]
    assert "F1 difference" in paired_table([("memory", "rag", better)], measure="F1")[2]
    assert paired_table([]) == []
