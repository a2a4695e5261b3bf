"""The llama.cpp backend with the packaged SmolLM2-135M: replies with exact token counts, JSON mode,
streaming, the token and time bounds, concurrent callers, bad input; and which backend a config picks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from indexers.errors import InvalidConfig, InvalidInput
from indexers.models.llamacpp import LlamaCppLLM
from indexers.models.llm import ChatMessage, Completion, LLMConfig, load_llm

QUESTION: list[ChatMessage] = [
    {"role": "user", "content": "What is the capital of France? Answer in one word."}
]
STORY: list[ChatMessage] = [{"role": "user", "content": "Write a long story about a cat."}]
SMOL = {"model": "smollm2-135m", "context_window": 512, "threads": 1}  # robust on a busy machine


@pytest.fixture(scope="module")
def smol() -> LlamaCppLLM:
    llm = load_llm(LLMConfig(**SMOL))  # type: ignore[arg-type]
    assert isinstance(llm, LlamaCppLLM)
    return llm


def test_gguf_models_default_to_llamacpp_and_other_models_to_transformers() -> None:
    assert LLMConfig().backend == "llamacpp"
    assert LLMConfig(model="/models/any.gguf").backend == "llamacpp"
    assert LLMConfig(model="HuggingFaceTB/SmolLM2-135M-Instruct").backend == "local"
    assert LLMConfig(backend="local", model="smollm2-135m").backend == "local"


def test_chat_returns_text_token_counts_and_finish_reason(smol: LlamaCppLLM) -> None:
    reply = smol.chat(QUESTION, max_tokens=12)
    assert reply.text
    assert reply.prompt_tokens > smol.count_tokens(QUESTION[0]["content"])  # the chat template adds tokens
    assert 0 < reply.completion_tokens <= 12
    assert reply.finish_reason in {"stop", "length"} and reply.seconds > 0


def test_prompt_tokens_are_exact(smol: LlamaCppLLM) -> None:
    short, long = "Name a colour.", "Name a colour that you like, and say why in one sentence."
    replies = [smol.chat([{"role": "user", "content": text}], max_tokens=1) for text in (short, long)]
    assert replies[1].prompt_tokens - replies[0].prompt_tokens == smol.count_tokens(long) - smol.count_tokens(
        short
    )
    served = smol._engine.server.handle_chat_completions(
        {"messages": [{"role": "user", "content": long}], "max_tokens": 1}
    )
    assert served["usage"]["prompt_tokens"] == replies[1].prompt_tokens


def test_json_mode_gives_parseable_json(smol: LlamaCppLLM) -> None:
    prompt = 'Extract the person and city from: "Alice moved to Paris in 2019." Keys: person, city.'
    value = smol.chat_json([{"role": "user", "content": prompt}], max_tokens=40, attempts=1)
    assert isinstance(value, dict) and value


def test_stream_pieces_join_to_the_reply(smol: LlamaCppLLM) -> None:
    reply = smol.chat(QUESTION, max_tokens=12)
    pieces = list(smol.stream(QUESTION, max_tokens=12))
    assert len(pieces) > 1 and "".join(pieces).strip() == reply.text  # greedy: the same reply


def test_max_tokens_bounds_the_reply(smol: LlamaCppLLM) -> None:
    reply = smol.chat(STORY, max_tokens=5)
    assert reply.completion_tokens == 5 and reply.finish_reason == "length"


def test_a_stream_closed_early_stops_and_the_model_still_answers(smol: LlamaCppLLM) -> None:
    stream = smol.stream(STORY, max_tokens=200)
    assert next(stream)
    stream.close()
    assert smol.chat(QUESTION, max_tokens=3).completion_tokens > 0


def test_the_time_bound_stops_generation() -> None:
    llm = load_llm(LLMConfig(**SMOL, timeout_s=0.5))  # type: ignore[arg-type]
    llm.chat(QUESTION, max_tokens=1)  # load first: the bound is on generation
    reply = llm.chat(STORY, max_tokens=400)
    assert reply.finish_reason == "time" and reply.completion_tokens < 400
    assert reply.seconds < 0.5 + 0.5


def test_concurrent_callers_both_complete(smol: LlamaCppLLM) -> None:
    replies: dict[int, Completion] = {}

    def ask(number: int) -> None:
        question: ChatMessage = {"role": "user", "content": f"Tell me fact number {number}."}
        replies[number] = smol.chat([question], max_tokens=16)

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(replies) == [0, 1]
    assert all(reply.completion_tokens > 0 and reply.text for reply in replies.values())


def test_bad_input_is_rejected(smol: LlamaCppLLM) -> None:
    with pytest.raises(InvalidInput):
        smol.chat([{"role": "user", "content": "  "}])
    with pytest.raises(InvalidInput, match="context window"):
        smol.chat([{"role": "user", "content": "word " * 600}], max_tokens=8)
    with pytest.raises(InvalidInput, match="context window"):
        list(smol.stream([{"role": "user", "content": "word " * 450}], max_tokens=100))


def test_a_missing_gguf_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="no GGUF file"):
        LlamaCppLLM(LLMConfig(model=str(tmp_path / "missing.gguf"))).count_tokens("x")
