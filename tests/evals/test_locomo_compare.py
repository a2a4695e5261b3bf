"""The per-question comparison of two LoCoMo result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.locomo_compare import compare, main


def result(f1: dict[str, float]) -> dict[str, object]:
    records = [{"qid": q, "category": 1, "f1": v} for q, v in f1.items()]
    return {"records": {"memory": records + [{"qid": "adv", "category": 5, "f1": 0.0}], "rag": []}}


def test_compare_pairs_the_questions_both_runs_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = result({"a": 1.0, "b": 0.5, "c": 0.0}), result({"a": 0.5, "b": 0.5, "d": 1.0})
    rows = compare(new, old)
    assert list(rows) == ["memory"]  # rag answered nothing
    memory = rows["memory"]
    assert (memory["questions"], memory["f1_new"], memory["f1_baseline"]) == (2, 0.75, 0.5)
    assert (memory["wins"], memory["losses"], memory["ties"]) == (1, 0, 1)
    (tmp_path / "new.json").write_text(json.dumps(new))
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main([str(tmp_path / "new.json"), str(tmp_path / "old.json")]) == 0
    assert "| memory | 2 | 0.750 | 0.500 | +0.250 | 1 / 0 / 1 |" in capsys.readouterr().out


def test_compare_pairs_one_method_with_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = result({"a": 1.0, "b": 0.5})
    full = {
        "records": {"full": [{"qid": "a", "category": 1, "f1": 0.0}, {"qid": "b", "category": 2, "f1": 0.5}]}
    }
    rows = compare(new, full, ("memory", "full"))
    assert list(rows) == ["memory vs full"] and rows["memory vs full"]["wins"] == 1
    (tmp_path / "new.json").write_text(json.dumps(new))
    (tmp_path / "full.json").write_text(json.dumps(full))
    assert main([str(tmp_path / "new.json"), str(tmp_path / "full.json"), "--methods", "memory", "full"]) == 0
    assert "| memory vs full | 2 | 0.750 | 0.250 | +0.500 | 1 / 0 / 1 |" in capsys.readouterr().out


def test_files_pool_into_each_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def both(memory: dict[str, float], rag: dict[str, float]) -> dict[str, object]:
        rows = {
            m: [{"qid": q, "category": 1, "f1": v} for q, v in f1.items()]
            for m, f1 in (("memory", memory), ("rag", rag))
        }
        return {"records": rows}

    files = [tmp_path / "c1.json", tmp_path / "c2.json"]
    files[0].write_text(json.dumps(both({"c1#0": 1.0, "c1#1": 0.5}, {"c1#0": 0.0, "c1#1": 0.5})))
    files[1].write_text(json.dumps(both({"c2#0": 1.0}, {"c2#0": 0.5})))
    paths = [str(f) for f in files]
    assert main([*paths, "--baseline", *paths, "--methods", "memory", "rag"]) == 0
    assert "| memory vs rag | 3 | 0.833 | 0.333 | +0.500 | 2 / 0 / 1 |" in capsys.readouterr().out


def test_more_than_two_files_need_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), str(tmp_path / "c.json")]) == 2
    assert "--baseline" in capsys.readouterr().err
