"""The LLM runtime benchmark on the packaged SmolLM2 (llama.cpp only: the transformers row needs a
de-quantised copy): one row per backend with speeds and load averages, written as Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.llm_runtime import main


@pytest.mark.slow  # 3-10 s: three generations
def test_writes_a_row_per_model_and_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the benchmark sets it; restored afterwards
    argv = ["--models", "smollm2-135m", "--backends", "llamacpp", "--threads", "1", "--repeats", "1"]
    argv += ["--prompt-tokens", "40", "--max-tokens", "4", "--results-dir", str(tmp_path), "--name", "r"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    (row,) = result["rows"]
    assert row["backend"] == "llamacpp" and row["completion_tokens"] <= 4
    assert row["prompt_tokens"] >= 30 and row["prompt_tok_s"] > 0 and row["gen_tok_s"] > 0
    assert len(row["load_average_before"]) == 3
    assert "| smollm2-135m | llamacpp |" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_a_missing_model_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    argv = ["--models", str(tmp_path / "none.gguf"), "--backends", "llamacpp", "--results-dir", str(tmp_path)]
    assert main(argv) == 2
