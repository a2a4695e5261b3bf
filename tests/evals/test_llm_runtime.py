"""The LLM runtime benchmark on the packaged SmolLM2 (llama.cpp only: the transformers row needs a
de-quantised copy): one row per backend and weights setting with speeds and load averages, written as
Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.llm_runtime import main


@pytest.mark.slow  # 5-15 s: six generations and a re-quantisation
def test_writes_a_row_per_model_backend_and_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the benchmark sets it; restored afterwards
    argv = ["--models", "smollm2-135m", "--backends", "llamacpp", "--requantize", "iq4_nl", "off"]
    argv += ["--threads", "1", "--repeats", "1", "--prompt-tokens", "40", "--max-tokens", "4"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path), "--name", "r"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [(r["backend"], r["weights"], r["converted_on_load"]) for r in result["rows"]] == [
        ("llamacpp", "iq4_nl", True),
        ("llamacpp", "off", False),
    ]
    for row in result["rows"]:
        assert row["completion_tokens"] <= 4 and row["prompt_tokens"] >= 30
        assert row["prompt_tok_s"] > 0 and row["gen_tok_s"] > 0 and len(row["load_average_before"]) == 3
    table = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "| smollm2-135m | llamacpp | iq4_nl |" in table and "| smollm2-135m | llamacpp | off |" in table


def test_a_missing_model_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    argv = ["--models", str(tmp_path / "none.gguf"), "--backends", "llamacpp", "--results-dir", str(tmp_path)]
    assert main(argv) == 2
