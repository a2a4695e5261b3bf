"""`python -m indexers.compress.train label`: texts drawn from each corpus, labelled from an LLM's
surprisal or its compressions (concurrently), resumed without asking about a text twice, unusable
replies recorded as rejected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexers.compress import train
from indexers.compress.distill import held_out_split, surprisal_labels, word_surprisal
from indexers.models.causal_lm import load_causal_lm
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
    argv += ["--method", "extractive"]
    assert train.main([*argv, "--concurrency", "2"]) == 0
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 5 and sum(i.startswith("a") for i in records) == 3  # 3 of a, both of b
    assert records["b0"] == {"id": "b0", "llm": "qwen2.5-0.5b", "method": "extractive", "rejected": True}
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


def test_fit_with_an_inner_seed_never_sees_the_held_out_texts(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    words = "insulin reduced blood glucose in the trial".split()
    keep = [w not in ("in", "the") for w in words]
    labels.write_text(
        "".join(
            json.dumps({"id": f"t{i}", "llm": "x", "words": words, "keep": keep}) + "\n" for i in range(10)
        )
    )
    held = {f"t{i}" for i in held_out_split(10)[1]}
    head = tmp_path / "head.npz"
    argv = ["fit", "--labels", str(labels), "--out", str(head), "--epochs", "2", "--inner-seed", "1"]
    assert train.main(argv) == 0
    report = json.loads(head.with_suffix(".json").read_text())
    assert report["texts"] == 8 and not held & set(report["documents"]) and report["inner_seed"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--concurrency", "0"], "parallel"),
        (["--limit", "0"], "--limit and --max-words must be at least 1"),
        (["--corpus", "missing.jsonl"], "No such file"),
        (["--keep", "1.5"], "--keep must be between 0 and 1"),
        (["--base-url", "http://127.0.0.1:9/v1"], "drop --base-url"),
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
    monkeypatch.setattr(train, "load_causal_lm", lambda *_args: pytest.fail("the LM was loaded"))
    monkeypatch.chdir(tmp_path)
    corpus = _corpus(tmp_path / "a.jsonl", "a", 2)
    out = tmp_path / "labels.jsonl"
    assert train.main(["label", "--corpus", str(corpus), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_fit_names_a_missing_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.jsonl"
    assert train.main(["fit", "--labels", str(missing), "--out", str(tmp_path / "head.npz")]) == 2
    assert "fit: error:" in capsys.readouterr().err and not (tmp_path / "head.npz").exists()


def test_surprisal_labels_keep_the_most_surprising_words() -> None:
    words = "the drug lowered glucose in the trial".split()
    labels = surprisal_labels(words, np.array([0.1, 5.0, 2.0, 6.0, 0.2, 0.1, 3.0]), keep=0.4)
    assert [w for w, k in zip(labels.words, labels.keep, strict=True) if k] == ["drug", "glucose", "trial"]


def test_word_surprisal_sums_each_words_tokens_whatever_the_batch(
    tiny_causal_lm: str, tmp_path: Path
) -> None:
    lm = load_causal_lm(tiny_causal_lm, tmp_path)
    short, long = (
        "Insulin lowers glucose.",
        "Metformin (500 mg) reduced HbA1c in 120 patients over two years.",
    )
    ((words, alone),) = word_surprisal(lm, [short])
    _, padded = word_surprisal(lm, [short, long])[0]
    assert words == ["Insulin", "lowers", "glucose."] and len(alone) == 3 and (alone > 0).all()
    assert np.allclose(alone, padded, atol=1e-4)  # padding a batch changes nothing
    tokens = lm.tokenizer(short, add_special_tokens=False)["input_ids"]
    ids = [lm.tokenizer.eos_token_id, *tokens]
    import torch

    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, :-1]
    total = -torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None]).sum().item()
    assert alone.sum() == pytest.approx(total, rel=1e-4)  # every token counted once


def test_label_by_surprisal_labels_every_text(tiny_causal_lm: str, tmp_path: Path) -> None:
    corpus, out = _corpus(tmp_path / "a.jsonl", "a", 3), tmp_path / "labels.jsonl"
    argv = ["label", "--corpus", str(corpus), "--out", str(out), "--llm", tiny_causal_lm, "--keep", "0.5"]
    assert train.main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and {r["method"] for r in records} == {"surprisal"}
    assert all(sum(r["keep"]) == round(len(r["words"]) / 2) for r in records)
