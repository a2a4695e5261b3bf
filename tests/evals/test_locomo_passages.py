"""LoCoMo sessions cut into labelling passages: whole turns, the date line first, ids per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.datasets import LocomoSample, LocomoSession, LocomoTurn
from evals.locomo_passages import main, session_passages


def _sample() -> LocomoSample:
    turns = [LocomoTurn(f"D1:{i}", "Ada", " ".join(["word"] * 4)) for i in range(5)]  # 5 words a line
    sessions = [
        LocomoSession(1, "1:56 pm on 8 May, 2023", turns),
        LocomoSession(2, None, [LocomoTurn("D2:1", "Ben", " ".join(["long"] * 30))]),
    ]
    return LocomoSample("conv-9", sessions, [])


def test_passages_hold_whole_turns_under_the_word_bound() -> None:
    docs = list(session_passages(_sample(), max_words=12))
    assert [d.id for d in docs] == ["conv-9-s1-p0", "conv-9-s1-p1", "conv-9-s1-p2", "conv-9-s2-p0"]
    first = docs[0].text.split("\n")
    assert first[0] == "1:56 pm on 8 May, 2023" and first[1:] == ["Ada: word word word word"] * 2
    assert docs[2].text.count("Ada:") == 1  # the fifth turn, alone
    assert docs[3].text.startswith("session 2\nBen: long")  # a longer turn stands alone, undated
    assert sum(d.text.count("Ada:") for d in docs) == 5


def test_cli_writes_a_corpus_and_rejects_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(
        json.dumps(
            [
                {
                    "sample_id": "conv-1",
                    "conversation": {
                        "session_1_date_time": "9:00 am on 3 May, 2023",
                        "session_1": [{"speaker": "Ada", "dia_id": "D1:1", "text": "Hello there."}],
                    },
                    "qa": [],
                }
            ]
        )
    )
    out = tmp_path / "passages.jsonl"
    assert main(["--data", str(data), "--out", str(out)]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record == {"_id": "conv-1-s1-p0", "text": "9:00 am on 3 May, 2023\nAda: Hello there."}
    data.write_text("[not json")
    assert main(["--data", str(data), "--out", str(tmp_path / "other.jsonl")]) == 2
    assert "cannot read LoCoMo file" in capsys.readouterr().err
    assert not (tmp_path / "other.jsonl").exists()


def test_cli_rejects_a_word_bound_below_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "passages.jsonl"
    assert main(["--data", str(tmp_path / "any.json"), "--out", str(out), "--max-words", "0"]) == 2
    assert "--max-words must be at least 1" in capsys.readouterr().err and not out.exists()
