"""POST /v1/compress and POST /v1/answer: happy paths, streaming and every bad input of the issue."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from indexers.compress.lingua import load_lingua
from indexers.models.llm import LLMConfig, OpenAILLM
from service.api.deps import get_llm
from service.api.main import create_app
from service.settings import Settings
from tests.api.support import serve
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = (
    "Insulin is a peptide hormone produced by beta cells of the pancreatic islets. It regulates the "
    "metabolism of carbohydrates, fats and protein by promoting the absorption of glucose from the "
    "blood into liver, fat and skeletal muscle cells. In these tissues the absorbed glucose is "
    "converted into either glycogen via glycogenesis or fats via lipogenesis."
)


def test_compress_text_reports_rate_and_mask(client: TestClient) -> None:
    response = client.post("/v1/compress", json={"text": TEXT, "rate": 0.33, "force_tokens": ["Insulin"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokens_after"] < body["tokens_before"] and body["rate"] <= 0.34
    assert len(body["kept"]) == len(body["words"]) == len(TEXT.split())
    assert body["text"].split() == [w for w, k in zip(body["words"], body["kept"], strict=True) if k]
    assert body["text"].startswith("Insulin")


def test_compress_for_a_question_keeps_the_passage_that_answers_it(client: TestClient) -> None:
    passages = ["The Eiffel Tower is in Paris and opened in 1889.", TEXT, "Glycogen is stored in the liver."]
    body = {"passages": passages, "rate": 0.2, "question": "When did the Eiffel Tower open?"}
    response = client.post("/v1/compress", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["text"].startswith(passages[0]) and result["rate"] <= 0.21


def test_compress_passages_with_crag(client: TestClient) -> None:
    passages = [TEXT, "The Eiffel Tower is in Paris.", "Paris is the capital of France.", TEXT[:120]]
    response = client.post("/v1/compress", json={"passages": passages, "method": "crag", "target_tokens": 40})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokens_after"] <= 48 and body["kept"] is not None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": TEXT, "rate": 0}, "rate"),
        ({"text": TEXT, "rate": 1.5}, "rate"),
        ({"text": TEXT, "rate": 0.5, "target_tokens": 10}, "either"),
        ({"text": TEXT, "force_tokens": ["glucagon"]}, "not found in the text: ['glucagon']"),
        ({"text": TEXT, "passages": [TEXT]}, "exactly one"),
        ({"text": TEXT, "question": " "}, "question"),
        ({}, "exactly one"),
    ],
)
def test_bad_compress_requests_are_422(client: TestClient, payload: dict[str, object], message: str) -> None:
    response = client.post("/v1/compress", json=payload)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_answer_retrieves_compresses_and_answers(loaded: TestClient) -> None:
    llm = ScriptedLLM(["Paris"])
    loaded.app.dependency_overrides[get_llm] = lambda: llm  # type: ignore[attr-defined]
    body = {"collection": "docs", "query": "neural ranking models", "k": 3, "rate": 0.5}
    response = loaded.post("/v1/answer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"] == "Paris" and len(answer["sources"]) == 3
    assert answer["context_tokens_after"] < answer["context_tokens_before"]
    assert "neural ranking models" in llm.calls[0][-1]["content"]
    plain = loaded.post("/v1/answer", json={**body, "compression": "none"}).json()
    assert plain["context_tokens_after"] == plain["context_tokens_before"] > answer["context_tokens_after"]


def test_answer_streams_server_sent_events(loaded: TestClient) -> None:
    loaded.app.dependency_overrides[get_llm] = lambda: ScriptedLLM(["The answer is Paris"])  # type: ignore[attr-defined]
    body = {"collection": "docs", "query": "neural ranking", "k": 2, "compression": "crag", "stream": True}
    with loaded.stream("POST", "/v1/answer", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [e for e in response.read().decode().split("\n\n") if e]
    assert (
        events[0].startswith("event: sources")
        and len(json.loads(events[0].split("data: ")[1])["sources"]) == 2
    )
    deltas = [json.loads(e[len("data: ") :])["delta"] for e in events[1:-1]]
    assert "".join(deltas).strip() == "The answer is Paris" and events[-1].startswith("event: done")


def test_answer_with_an_unreachable_llm_is_503_quickly(loaded: TestClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    loaded.app.dependency_overrides[get_llm] = lambda: OpenAILLM(config.model_copy(update={"max_retries": 1}))  # type: ignore[attr-defined]
    started = time.perf_counter()
    for stream in (False, True):
        body = {"collection": "docs", "query": "neural ranking", "compression": "none", "stream": stream}
        response = loaded.post("/v1/answer", json=body)
        assert response.status_code == 503, response.text
        assert "unavailable" in response.json()["detail"]
    assert time.perf_counter() - started < 20


def test_answer_bad_input(loaded: TestClient) -> None:
    loaded.app.dependency_overrides[get_llm] = lambda: ScriptedLLM(["x"])  # type: ignore[attr-defined]
    assert loaded.post("/v1/answer", json={"collection": "nope", "query": "q"}).status_code == 404
    assert loaded.post("/v1/answer", json={"collection": "docs", "query": " "}).status_code == 422
    bad_rate = loaded.post("/v1/answer", json={"collection": "docs", "query": "q", "rate": 2})
    assert bad_rate.status_code == 422 and "rate" in bad_rate.json()["detail"]


def test_compress_text_over_the_size_limit_is_413(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.services.settings, "max_compress_chars", len(TEXT) - 1)  # type: ignore[attr-defined]
    for body in ({"text": TEXT}, {"passages": [TEXT[:100], TEXT[100:]]}):
        response = client.post("/v1/compress", json=body)
        assert response.status_code == 413, response.text
        assert (
            f"{len(TEXT)} characters, over max_compress_chars ({len(TEXT) - 1})" in response.json()["detail"]
        )
    assert client.post("/v1/compress", json={"text": TEXT[:-1]}).status_code == 200


def slow_batches(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[int]:
    """Makes each encoder batch of the compressor take `seconds` longer; returns the batch sizes run."""
    encoder = load_lingua().reader.encoder
    read = encoder.hidden_states
    batches: list[int] = []

    def slow(ids: list[list[int]]) -> object:
        batches.append(len(ids))
        time.sleep(seconds)
        return read(ids)

    monkeypatch.setattr(encoder, "hidden_states", slow)
    return batches


def test_compress_stops_between_batches_once_its_time_is_up(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = slow_batches(monkeypatch, 0.3)
    monkeypatch.setattr(client.app.state.services.settings, "compress_timeout_s", 0.2)  # type: ignore[attr-defined]
    text = " ".join([TEXT] * 120)  # about 9,000 word pieces: 18 chunks, 3 batches of 8
    response = client.post("/v1/compress", json={"text": text})
    assert response.status_code == 503, response.text
    assert "compress_timeout_s (0.2 s)" in response.json()["detail"]
    assert len(batches) <= 1  # of three batches: none started after the time was up


def test_compress_stops_when_the_client_goes_away(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = slow_batches(monkeypatch, 0.5)
    text = " ".join([TEXT] * 120)  # three batches: 1.5 s of encoding
    with serve(create_app(settings)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/compress", json={"text": text}, timeout=0.3)  # the client gives up
        time.sleep(1.6)
    assert len(batches) <= 1  # of three batches: none started after the client left


def test_answer_bounds_the_passages_it_compresses(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded.app.dependency_overrides[get_llm] = lambda: ScriptedLLM(["Paris"])  # type: ignore[attr-defined]
    monkeypatch.setattr(loaded.app.state.services.settings, "max_compress_chars", 20)  # type: ignore[attr-defined]
    body = {"collection": "docs", "query": "neural ranking models", "k": 3}
    response = loaded.post("/v1/answer", json=body)
    assert response.status_code == 422 and "over max_compress_chars (20)" in response.json()["detail"]
    assert loaded.post("/v1/answer", json={**body, "compression": "none"}).status_code == 200
    monkeypatch.setattr(loaded.app.state.services.settings, "max_compress_chars", 100_000)  # type: ignore[attr-defined]
    monkeypatch.setattr(loaded.app.state.services.settings, "compress_timeout_s", 1e-9)  # type: ignore[attr-defined]
    late = loaded.post("/v1/answer", json=body)
    assert late.status_code == 503 and "compress_timeout_s" in late.json()["detail"]
