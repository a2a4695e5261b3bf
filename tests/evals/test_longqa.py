"""The long-context QA evaluation on a tiny LoCoMo-shaped file with a scripted LLM (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.longqa import context_window, load_items, main
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _conversation() -> dict[str, object]:
    turns = [
        {"speaker": "Ann", "dia_id": f"D1:{i}", "text": f"I went hiking near lake number {i} with my dog."}
        for i in range(1, 41)
    ]
    turns[19]["text"] = "My sister Maria moved to Lisbon last spring."
    return {
        "sample_id": "conv-x",
        "conversation": {"session_1_date_time": "1 May 2023", "session_1": turns},
        "qa": [
            {"question": "Where did Maria move?", "answer": "Lisbon", "evidence": ["D1:20"], "category": 1},
            {"question": "Trick?", "adversarial_answer": "x", "evidence": ["D1:2"], "category": 5},
        ],
    }


def test_items_and_context_window(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_conversation()]))
    items = load_items(path)
    assert len(items) == 1 and items[0].answer == "Lisbon" and items[0].turns[0] == "[1 May 2023]"
    sessions = context_window(ScriptedLLM(["x"]), items[0], budget=60)
    assert len(sessions) == 1 and sessions[0][0] == "[1 May 2023]"  # entered mid-session: date first
    window = sessions[0][1:]
    assert "Ann: My sister Maria moved to Lisbon last spring." in window
    assert sum(len(line.split()) + 1 for line in window) <= 60 and len(window) < len(items[0].turns)


def test_runs_every_method_and_writes_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_conversation()]))
    out = tmp_path / "longqa"
    argv = ["--locomo", str(path), "--questions", "1", "--context-tokens", "200", "--growth-questions", "1"]
    assert main([*argv, "--passages", "5", "20", "--out", str(out)], llm=ScriptedLLM(["Lisbon"])) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert list(report["methods"]) == [
        "none",
        "lingua 2x",
        "lingua 3x",
        "lingua 5x",
        "crag",
        "lingua 2x +q",
        "lingua 3x +q",
        "lingua 5x +q",
        "crag +q",
        "lingua 3x titles off",
    ]
    assert report["methods"]["none"]["answer_f1"] == 1.0
    tokens = {name: row["prompt_tokens"] for name, row in report["methods"].items()}
    assert tokens["lingua 5x"] < tokens["lingua 3x"] < tokens["lingua 2x"] < tokens["none"]
    assert tokens["lingua 5x +q"] < tokens["lingua 3x +q"] < tokens["lingua 2x +q"] < tokens["none"]
    growth = report["crag_growth"]
    assert growth["20"]["tokens_before"] > growth["5"]["tokens_before"] and growth["20"]["crag_q_tokens"]
    assert "| lingua 3x +q | 1 |" in out.with_suffix(".md").read_text()
    assert report["methods"]["none"]["answer_recall"] == 1.0  # the whole window holds "Lisbon"


def test_question_aware_methods_send_the_question_to_the_compressor(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_conversation()]))
    out = tmp_path / "longqa"
    llm = ScriptedLLM(["Lisbon"])
    argv = ["--locomo", str(path), "--questions", "1", "--context-tokens", "300", "--growth-questions", "0"]
    assert main([*argv, "--methods", "lingua 5x", "lingua 5x +q", "--out", str(out)], llm=llm) == 0
    blind, aware = (call[-1]["content"] for call in llm.calls[-2:])
    turn = "Ann: My sister Maria moved to Lisbon last spring."
    assert turn in aware and turn not in blind  # 5x keeps the answer's turn whole only with the question
    table = out.with_suffix(".md").read_text()
    assert "Per question against `lingua 5x`" in table and "| lingua 5x +q |" in table
