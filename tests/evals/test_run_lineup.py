"""`benchmarks.run` on the 20-document folder: a lineup file, one `evals.beir` process per run, one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.run import load_lineup, main

LINEUPS = Path(__file__).resolve().parents[2] / "benchmarks" / "lineups"

LINEUP = """
name = "tiny"
title = "Tiny"
notes = "Fake encoder."

[[run]]
name = "exact fake"
kind = "exact"
config = { encoder = { model = "fake:hash" } }

[[run]]
name = "dense fake"
kind = "dense"
config = { encoder = { model = "fake:hash" } }
sample_queries = 4
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lineup.toml"
    path.write_text(text)
    return path


def test_every_run_gets_a_row_in_one_report(tmp_path: Path, data_dir: Path, capsys) -> None:
    lineup = _write(tmp_path, LINEUP)
    results, runs = tmp_path / "results", tmp_path / "runs"
    args = [
        "--data",
        str(data_dir),
        "--split",
        "test",
        "--results-dir",
        str(results),
        "--runs-dir",
        str(runs),
    ]
    assert main([str(lineup), *args]) == 0
    data = json.loads((results / "data-test-tiny.json").read_text())
    assert [r["label"] for r in data["results"]] == ["exact fake", "dense fake"]
    assert [r["num_queries"] for r in data["results"]] == [10, 4]
    assert data["results"][0]["config"]["encoder"]["model"] == "fake:hash" and data["failed"] == []
    report = (results / "data-test-tiny.md").read_text()
    assert report.startswith("# Tiny: data / test") and "Fake encoder." in report
    assert "| exact fake | " in report and "| dense fake | " in report
    assert len(list(runs.glob("*.json"))) == 2
    assert capsys.readouterr().out.splitlines()[0].startswith("| kind/config | nDCG@10 |")


def test_a_baseline_adds_a_paired_comparison_and_indexes_can_be_kept(tmp_path: Path, data_dir: Path) -> None:
    text = LINEUP.replace('notes = "Fake encoder."', 'notes = "Fake encoder."\nbaseline = "exact fake"')
    fused = '\n[[run]]\nname = "both"\nkind = "rrf"\nfuse = ["exact fake", "dense fake"]\n'
    fused += 'baseline = "dense fake"\n'
    lineup = _write(tmp_path, text.replace("sample_queries = 4\n", "") + fused)
    results = tmp_path / "results"
    args = ["--data", str(data_dir), "--split", "test", "--results-dir", str(results), "--only", "both"]
    kept = tmp_path / "indexes"
    assert main([str(lineup), *args, "--runs-dir", str(tmp_path / "runs"), "--keep-indexes", str(kept)]) == 0
    assert sorted(p.name for p in kept.iterdir()) == ["data-test-dense_fake", "data-test-exact_fake"]
    data = json.loads((results / "data-test-tiny.json").read_text())
    assert [r["label"] for r in data["results"]] == [
        "exact fake",
        "dense fake",
        "both",
    ]  # a fused row's runs run
    assert len(data["results"][0]["ndcg_at_10_per_query"]) == 10
    comparison = data["paired"]["dense fake"]
    assert comparison["wins"] + comparison["losses"] + comparison["ties"] == 10
    assert 0 < comparison["p_value"] <= 1 and comparison["baseline"] == "exact fake"
    both = data["results"][2]
    assert both["kind"] == "rrf" and both["config"] == {"fuse": ["exact fake", "dense fake"], "k": 60}
    assert both["num_queries"] == 10 and 0 < both["ndcg_at_10"] <= 1 and "ranked" not in both
    assert data["paired"]["both"]["baseline"] == "dense fake"  # its own baseline
    report = (results / "data-test-tiny.md").read_text()
    assert "Paired per query" in report and "| both | dense fake | " in report


def test_a_failed_run_is_listed_and_exits_1(tmp_path: Path, data_dir: Path) -> None:
    lineup = _write(tmp_path, LINEUP.replace('kind = "dense"', 'kind = "dense"\nsplit = "nosuch"'))
    results = tmp_path / "results"
    code = main(
        [str(lineup), "--data", str(data_dir), "--split", "test", "--only", "dense fake",
         "--results-dir", str(results), "--runs-dir", str(tmp_path / "runs")]
    )  # fmt: skip
    assert code == 1 and not results.exists()  # nothing succeeded: nothing written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\ntitle = 'X'\n", "run"),
        (LINEUP.replace('name = "dense fake"', 'name = "exact fake"'), "run names appear twice: exact fake"),
        (LINEUP + "\n[[run]]\nname = 'y'\nkind = 'bm25'\nbogus = 1\n", "bogus"),
        ("name = [", "bad lineup"),
        (LINEUP.replace('notes = "Fake encoder."', 'baseline = "nosuch"'), "baseline 'nosuch' names no run"),
        (LINEUP + "\n[[run]]\nname = 'f'\nkind = 'rrf'\nfuse = ['exact fake', 'g']\n", "fuses 'g'"),
        (LINEUP + "\n[[run]]\nname = 'f'\nkind = 'rrf'\n", "goes with fuse"),
        (LINEUP + "\n[[run]]\nname = 'f'\nkind = 'bm25'\nbaseline = 'h'\n", "baseline 'h' names no run"),
    ],
)
def test_bad_lineups_exit_2(text: str, message: str, tmp_path: Path, data_dir: Path, capsys) -> None:
    assert main([str(_write(tmp_path, text)), "--data", str(data_dir), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_only_and_split_are_checked(tmp_path: Path, data_dir: Path, capsys) -> None:
    lineup = str(_write(tmp_path, LINEUP))
    assert main([lineup, "--data", str(data_dir), "--split", "test", "--only", "nosuch"]) == 2
    assert "--only names no run: nosuch" in capsys.readouterr().err
    assert main([lineup, "--data", str(data_dir)]) == 2
    assert "--split is needed" in capsys.readouterr().err
    assert main([lineup]) == 2  # --data missing: argparse usage error


@pytest.mark.parametrize("path", sorted(LINEUPS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_lineups_validate(path: Path) -> None:
    from indexers.configs import parse_config

    lineup = load_lineup(path)
    for run in lineup.runs:
        if not run.fuse:  # a fused row has no index config
            parse_config({"kind": run.kind, **run.config})  # every config is a valid index config
