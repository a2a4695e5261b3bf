"""`python -m indexers.compress.train label`: texts drawn from each corpus, labelled concurrently,
resumed without asking about a text twice, unusable replies recorded as rejected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from indexers.compress import train
from indexers.models.llm import ChatMessage
from tests.scripted_llm import ScriptedLLM


def _every_other_word(messages: Sequence[ChatMessage], _json: bool) -> str:
    """Every other word; corpus b's texts come back whole, which labelling rejects (all kept)."""
    text = messages[-1]["content"].split("\n\n", 1)[1]
    return text if " b " in text else " ".join(text.split()[::2])


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
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 5 and sum(i.startswith("a") for i in records) == 3  # 3 of a, both of b
    assert records["b0"] == {"id": "b0", "llm": "qwen2.5-0.5b", "rejected": True}
    labelled = next(r for i, r in records.items() if i.startswith("a"))
    assert labelled["keep"] == [i % 2 == 0 for i in range(len(labelled["words"]))]
    calls = len(llm.calls)
    assert train.main(argv) == 0  # resumed: nothing left to ask, rejected texts included
    assert len(llm.calls) == calls and len(out.read_text().splitlines()) == 5


def test_fit_leaves_rejected_texts_out(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    words = "insulin reduced blood glucose in the trial".split()
    records: list[dict[str, object]] = [
        {"id": f"t{i}", "llm": "scripted", "words": words, "keep": [w not in ("in", "the") for w in words]}
        for i in range(3)
    ]
    records.append({"id": "r0", "llm": "scripted", "rejected": True})
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    head = tmp_path / "head.npz"
    assert train.main(["fit", "--labels", str(labels), "--out", str(head), "--epochs", "2"]) == 0
    report = json.loads(head.with_suffix(".json").read_text())
    assert report["texts"] == 3 and report["documents"] == ["t0", "t1", "t2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--concurrency", "0"], "parallel"),
        (["--limit", "0"], "--limit and --max-words must be at least 1"),
        (["--corpus", "missing.jsonl"], "No such file"),
    ],
)
def test_label_rejects_bad_input_before_loading_the_llm(
    extra: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(train, "load_llm", lambda _config: pytest.fail("the LLM was loaded"))
    monkeypatch.chdir(tmp_path)
    corpus = _corpus(tmp_path / "a.jsonl", "a", 2)
    out = tmp_path / "labels.jsonl"
    assert train.main(["label", "--corpus", str(corpus), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_fit_names_a_missing_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.jsonl"
    assert train.main(["fit", "--labels", str(missing), "--out", str(tmp_path / "head.npz")]) == 2
    assert "fit: error:" in capsys.readouterr().err and not (tmp_path / "head.npz").exists()
