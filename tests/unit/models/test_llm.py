"""The LLM client: JSON extraction, the OpenAI protocol (scripted server), and a real local model."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
import pytest

from indexers.errors import InvalidInput, LLMBadOutput, LLMError, LLMUnavailable
from indexers.models.llm import LLMConfig, LocalLLM, OpenAILLM, load_llm, parse_json

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! ```json\n{"a": [1, 2]}\n``` done', {"a": [1, 2]}),
        ('[{"x": "y"}]', [{"x": "y"}]),
        ('{broken {"ok": true}', {"ok": True}),
    ],
)
def test_parse_json_finds_the_first_valid_value(reply: str, expected: object) -> None:
    assert parse_json(reply) == expected


@pytest.mark.parametrize("reply", ["", "no json here", '{"unterminated": '])
def test_parse_json_rejects_replies_without_json(reply: str) -> None:
    with pytest.raises(LLMBadOutput):
        parse_json(reply)


def _endpoint(handler: Callable[[httpx.Request], httpx.Response], **config: object) -> OpenAILLM:
    settings = LLMConfig(backend="openai", model="m", base_url="http://llm.test/v1", **config)  # type: ignore[arg-type]
    return OpenAILLM(settings, transport=httpx.MockTransport(handler))


def _completion(text: str, **usage: int) -> httpx.Response:
    body = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}], "usage": usage}
    return httpx.Response(200, json=body)


def test_openai_backend_sends_the_request_and_reads_usage() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer secret"
        return _completion("Paris", prompt_tokens=12, completion_tokens=1)

    reply = _endpoint(handler, api_key="secret").chat(QUESTION, max_tokens=5, stop=["\n"])
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("Paris", 12, 1)
    assert seen[0]["max_tokens"] == 5 and seen[0]["stop"] == ["\n"] and seen[0]["model"] == "m"


def test_openai_backend_retries_transient_failures_then_succeeds() -> None:
    answers = iter([httpx.Response(503), httpx.Response(429), _completion("ok")])
    llm = _endpoint(lambda request: next(answers), max_retries=2)
    assert llm.chat(QUESTION).text == "ok"


def test_openai_backend_gives_up_after_bounded_retries() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(LLMUnavailable, match="3 tries"):
        _endpoint(handler, max_retries=2).chat(QUESTION)
    assert len(calls) == 3


def test_openai_backend_does_not_retry_a_rejected_request() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": "bad model"})

    with pytest.raises(LLMError, match="HTTP 400"):
        _endpoint(handler).chat(QUESTION)
    assert len(calls) == 1


def test_openai_json_mode_asks_for_json_and_retries_malformed_replies() -> None:
    replies = iter([_completion("not json"), _completion('{"answer": "Paris"}')])
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return next(replies)

    assert _endpoint(handler).chat_json(QUESTION, attempts=2) == {"answer": "Paris"}
    assert bodies[0]["response_format"] == {"type": "json_object"}


def test_openai_json_mode_raises_after_its_attempts() -> None:
    with pytest.raises(LLMBadOutput):
        _endpoint(lambda request: _completion("still prose")).chat_json(QUESTION, attempts=2)


def test_openai_stream_yields_deltas() -> None:
    events = [{"choices": [{"delta": {"content": piece}}]} for piece in ("Pa", "ris")]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    llm = _endpoint(lambda request: httpx.Response(200, text=body))
    assert list(llm.stream(QUESTION)) == ["Pa", "ris"]


def test_unreachable_endpoint_is_unavailable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    llm = OpenAILLM(
        LLMConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)
    )
    with pytest.raises(LLMUnavailable, match="unavailable"):
        llm.chat(QUESTION)


def test_openai_backend_needs_a_base_url() -> None:
    with pytest.raises(LLMError, match="base_url"):
        load_llm(LLMConfig(backend="openai", model="m"))


def test_empty_chat_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        _endpoint(lambda request: _completion("x")).chat([{"role": "user", "content": "  "}])


@pytest.fixture(scope="module")
def smol() -> LocalLLM:
    llm = load_llm(LLMConfig(backend="local", model="smollm2-135m", context_window=512))
    assert isinstance(llm, LocalLLM)
    return llm


def test_local_model_answers_counts_and_streams(smol: LocalLLM) -> None:
    reply = smol.chat(QUESTION, max_tokens=12)
    assert "paris" in reply.text.lower()
    assert reply.prompt_tokens > smol.count_tokens(QUESTION[0]["content"])  # the chat template adds tokens
    assert 0 < reply.completion_tokens <= 12
    streamed = "".join(smol.stream(QUESTION, max_tokens=12))
    assert streamed.strip() == reply.text  # greedy: the stream is the same reply


def test_local_model_json_mode_gives_json(smol: LocalLLM) -> None:
    prompt = 'Extract the person and city from: "Alice moved to Paris in 2019." Keys: person, city.'
    value = smol.chat_json([{"role": "user", "content": prompt}], max_tokens=40)
    assert isinstance(value, dict) and value


def test_local_model_stops_at_the_token_limit(smol: LocalLLM) -> None:
    reply = smol.chat([{"role": "user", "content": "Write a long story about a cat."}], max_tokens=5)
    assert reply.completion_tokens == 5 and reply.finish_reason == "length"


def test_local_prompt_beyond_the_window_is_rejected(smol: LocalLLM) -> None:
    with pytest.raises(InvalidInput, match="context window"):
        smol.chat([{"role": "user", "content": "word " * 600}], max_tokens=8)
