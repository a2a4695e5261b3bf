"""Agent memory with the real packaged models: SmolLM2-135M writes units (whatever it replies, each
turn ends up covered); the slow test adds MiniLM vectors and answers through the whole loop."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexers.configs import EncoderConfig
from indexers.memory import AgentMemory, MemoryConfig, MemoryStore, Turn
from indexers.models.llm import LLMConfig, load_llm

TURNS = [
    Turn(
        id="D1:1",
        speaker="Ada",
        text="I went to the chess club yesterday.",
        timestamp=datetime(2023, 5, 8, 13, 56, tzinfo=UTC),
    ),
    Turn(
        id="D1:2",
        speaker="Ben",
        text="That's great! I painted a lighthouse at the lake last year.",
        timestamp=datetime(2023, 5, 8, 13, 57, tzinfo=UTC),
    ),
]


def _memory(tmp_path: Path, encoder: str) -> AgentMemory:
    llm = load_llm(LLMConfig(model="smollm2-135m", context_window=1024, timeout_s=20, threads=1))
    config = MemoryConfig(
        encoder=EncoderConfig(model=encoder),
        window=2,
        extract_max_tokens=48,
        llm_attempts=1,
        filter_threshold=0.0,
        answer_max_tokens=12,
    )
    return AgentMemory(MemoryStore(tmp_path / "agent", name="t.a"), llm, config)


def test_small_model_extraction_covers_every_turn(tmp_path: Path) -> None:
    memory = _memory(tmp_path, "fake:hash")
    report = memory.add_turns(TURNS)
    units, count = memory.list_units(100, 0)
    assert report.windows == 1 and count == report.units >= 1
    assert {"D1:1", "D1:2"} <= {t for u in units for t in u.source_turn_ids}
    assert all(u.text.strip() and u.time for u in units)


@pytest.mark.slow
def test_small_model_and_minilm_answer_from_memory(tmp_path: Path) -> None:
    memory = _memory(tmp_path, "minilm")
    memory.add_turns(TURNS)
    memory.consolidate()
    answer = memory.answer("When did Ada go to the chess club?", token_budget=128)
    assert answer.recall.units and "chess club" in answer.recall.context.lower()
    assert answer.prompt_tokens > answer.recall.tokens and answer.answer
