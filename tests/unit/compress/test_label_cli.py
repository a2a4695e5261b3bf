"""`python -m indexers.compress.train label`: texts drawn from each corpus, labelled concurrently,
resumed without labelling a text twice (a scripted LLM keeps every other word)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from indexers.compress import train
from indexers.models.llm import ChatMessage
from tests.scripted_llm import ScriptedLLM


def _every_other_word(messages: Sequence[ChatMessage], _json: bool) -> str:
    text = messages[-1]["content"].split("\n\n", 1)[1]
    return " ".join(text.split()[::2])


def _corpus(path: Path, prefix: str, n: int) -> Path:
    lines = [
        json.dumps({"_id": f"{prefix}{i}", "text": f"alpha beta gamma delta {prefix} {i} eps"})
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_label_draws_from_each_corpus_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ScriptedLLM(_every_other_word)
    monkeypatch.setattr(train, "load_llm", lambda _config: llm)
    a, b = _corpus(tmp_path / "a.jsonl", "a", 5), _corpus(tmp_path / "b.jsonl", "b", 2)
    out = tmp_path / "labels.jsonl"
    argv = ["label", "--corpus", str(a), "--corpus", str(b), "--out", str(out), "--limit", "3"]
    assert train.main([*argv, "--concurrency", "2"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == 5 and len(set(ids)) == 5  # 3 of a, both of b
    assert sum(i.startswith("a") for i in ids) == 3 and {"b0", "b1"} <= set(ids)
    first = records[0]
    assert first["keep"] == [i % 2 == 0 for i in range(len(first["words"]))]
    calls = len(llm.calls)
    assert train.main(argv) == 0  # resumed: nothing left to label
    assert len(llm.calls) == calls and len(out.read_text().splitlines()) == 5
