"""One small chat-completion interface with three backends: llama.cpp in this process (the default for
GGUF models: the packaged aliases and `.gguf` paths; `indexers.models.llamacpp`), a causal LM through
transformers (`local`: the default for transformers folders and hub names) and any OpenAI-compatible
HTTP endpoint (vLLM, llama.cpp server, Ollama, hosted).

Every call is bounded: in-process generation stops at `timeout_s` (llama.cpp checks after every token,
transformers through `max_time`), HTTP calls time out and are retried at most `max_retries` times on
transport errors, 429 and 5xx, then raise `LLMUnavailable`. JSON mode asks the backend for a JSON
object (llama.cpp's JSON grammar, `response_format` over HTTP, an instruction and a `{` primer with
transformers) and `chat_json` validates the reply, retrying a bounded number of times before raising
`LLMBadOutput`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from indexers.errors import InvalidInput, LLMBadOutput, LLMError, LLMUnavailable
from indexers.import_lock import IMPORT_LOCK
from indexers.models.causal_lm import default_cache_dir, is_gguf_model

__all__ = [
    "LLM",
    "ChatMessage",
    "Completion",
    "LLMConfig",
    "LocalLLM",
    "OpenAILLM",
    "check_messages",
    "load_llm",
    "parse_json",
    "with_json_instruction",
]

logger = logging.getLogger(__name__)

JSON_PRIMER = "{"
JSON_INSTRUCTION = "Reply with one valid JSON object and nothing else: no prose, no code fences."


class ChatMessage(TypedDict):
    """One chat turn."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's reply with its cost: tokens in and out, why it stopped, and wall time."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float


class LLMConfig(BaseModel):
    """Which language model answers, and the bounds on every call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["llamacpp", "local", "openai"] = Field(
        "llamacpp",
        description="llamacpp: llama.cpp in this process (default for GGUF models: packaged aliases and "
        ".gguf paths); local: transformers in this process (default for folders and hub names); "
        "openai: an OpenAI-compatible endpoint",
    )
    model: str = Field(
        "qwen2.5-0.5b",
        description="llamacpp: smollm2-135m, qwen2.5-0.5b or a .gguf path; local: those, a transformers "
        "folder or hub name; openai: its name",
    )
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://host:8080/v1")
    api_key: str | None = Field(None, description="bearer token for the endpoint")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="bound on one call (generation or HTTP)")
    max_retries: int = Field(2, ge=0, le=10, description="retries on transport errors, 429 and 5xx")
    context_window: int | None = Field(
        None, ge=256, description="tokens a prompt plus reply may use; default: the model's own, at most 8192"
    )
    tokenizer: str | None = Field(
        None, description="openai backend: a local tokenizer (alias, folder) for exact token counts"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cache_dir: Path | None = Field(
        None, description="where packaged GGUF models are joined and converted (once); default: a temp folder"
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=512,
        description="llamacpp: CPU threads (they spin: at most the free cores); default: the cores this "
        "process may use less one (at least 1), leaving a core to the encoders",
    )
    parallel: int = Field(
        2, ge=1, le=64, description="llamacpp: calls decoded together, each with the whole context window"
    )
    requantize: Literal["iq4_nl", "off"] = Field(
        "iq4_nl",
        description="llamacpp: iq4_nl re-quantises the GGUF file's block matrices stored in Q4_1, Q5_0 "
        "or Q5_1 to IQ4_NL once into cache_dir, for llama.cpp's fastest CPU kernels; off: the file as it is",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_backend(cls, data: Any) -> Any:
        """No backend given: llamacpp for GGUF models, local (transformers) for folders and hub names."""
        if isinstance(data, dict) and data.get("backend") is None:
            model = data.get("model") or cls.model_fields["model"].default
            return {**data, "backend": "llamacpp" if is_gguf_model(str(model)) else "local"}
        return data

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or default_cache_dir()


class LLM(ABC):
    """Chat completion with token accounting; see the module docstring for the bounds."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def context_window(self) -> int:
        """Tokens a prompt and its reply may use together."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs for this model."""

    @abstractmethod
    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        """One completion.

        Raises:
            InvalidInput: no messages, or the prompt does not fit the context window.
            LLMUnavailable: the backend cannot be reached or timed out after the retries.
            LLMError: the backend rejected the request.
        """

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The completion as text pieces, as they are generated. Raises as `chat` does."""

    def chat_json(self, messages: Sequence[ChatMessage], *, max_tokens: int = 512, attempts: int = 2) -> Any:
        """A completion in JSON mode, parsed; retried up to `attempts` times on malformed JSON.

        Raises:
            LLMBadOutput: no attempt produced valid JSON.
        """
        last: LLMBadOutput | None = None
        for _ in range(max(1, attempts)):
            reply = self.chat(messages, max_tokens=max_tokens, json_mode=True)
            try:
                return parse_json(reply.text)
            except LLMBadOutput as exc:
                last = exc
        assert last is not None
        raise last


def check_messages(messages: Sequence[ChatMessage]) -> None:
    """Raise `InvalidInput` unless some message has content."""
    if not messages or not any(m["content"].strip() for m in messages):
        raise InvalidInput("a chat needs at least one non-empty message")


def with_json_instruction(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with the JSON-only instruction added to (or as) the system message."""
    out = list(messages)
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": f"{out[0]['content']}\n{JSON_INSTRUCTION}"}
    else:
        out.insert(0, {"role": "system", "content": JSON_INSTRUCTION})
    return out


def parse_json(text: str) -> Any:
    """The first JSON object or array in a model's reply (code fences and prose around it are skipped).

    Raises:
        LLMBadOutput: the reply holds no valid JSON object or array.
    """
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                continue
            return value
    raise LLMBadOutput(f"the model's reply holds no JSON object: {text[:200]!r}")


class LocalLLM(LLM):
    """A causal LM run in this process through transformers (greedy unless temperature > 0).

    One generation at a time per model (a lock), since a CPU model is saturated by one call.
    """

    MAX_DEFAULT_WINDOW = 8192

    def __init__(self, config: LLMConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()

    @functools.cached_property
    def _lm(self) -> Any:
        from indexers.models.causal_lm import load_causal_lm
        from indexers.models.encoders import device_for

        return load_causal_lm(
            self.config.model, self.config.resolved_cache_dir(), device_for(self.config.device)
        )

    @property
    def context_window(self) -> int:
        return self.config.context_window or min(self._lm.context_window, self.MAX_DEFAULT_WINDOW)

    def count_tokens(self, text: str) -> int:
        return len(self._lm.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _prompt(self, messages: Sequence[ChatMessage], max_tokens: int, json_mode: bool) -> Any:
        """Token ids of the chat prompt; in JSON mode the reply is primed with `{` (see `chat`)."""
        check_messages(messages)
        turns = with_json_instruction(messages) if json_mode else list(messages)
        tokenizer = self._lm.tokenizer
        text = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
        if json_mode:
            text += JSON_PRIMER
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if ids.shape[1] + max_tokens > self.context_window:
            raise InvalidInput(
                f"prompt of {ids.shape[1]} tokens plus {max_tokens} reply tokens exceeds the "
                f"context window of {self.context_window} tokens; shorten the prompt"
            )
        return ids.to(self._lm.model.device)

    def _generate_kwargs(
        self, max_tokens: int, temperature: float, stop: Sequence[str] | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "max_time": self.config.timeout_s,
            "pad_token_id": self._lm.tokenizer.pad_token_id,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
        else:  # greedy: clear sampling defaults a model's generation config may carry
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=self._lm.tokenizer)
        return kwargs

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        import torch

        input_ids = self._prompt(messages, max_tokens, json_mode)
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            output = self._lm.model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                **self._generate_kwargs(max_tokens, temperature, stop),
            )
        seconds = time.perf_counter() - started
        new = output[0, input_ids.shape[1] :]
        text = self._lm.tokenizer.decode(new, skip_special_tokens=True)
        for marker in stop or ():  # generation stops after the stop string; the reply excludes it
            text = text.split(marker, 1)[0]
        if json_mode:  # the prompt opened the object; small models follow that far better than prose
            text = JSON_PRIMER + text
        ended = bool(len(new)) and int(new[-1]) == self._lm.tokenizer.eos_token_id
        if seconds >= self.config.timeout_s:
            reason = "time"
        elif len(new) >= max_tokens and not ended:
            reason = "length"
        else:
            reason = "stop"
        return Completion(text.strip(), int(input_ids.shape[1]), int(len(new)), reason, seconds)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        input_ids = self._prompt(messages, max_tokens, json_mode=False)
        streamer = TextIteratorStreamer(
            self._lm.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.config.timeout_s
        )

        def run() -> None:
            with self._lock, torch.inference_mode():
                self._lm.model.generate(
                    input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    streamer=streamer,
                    **self._generate_kwargs(max_tokens, temperature, stop),
                )

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from streamer
        worker.join()


class OpenAILLM(LLM):
    """An OpenAI-compatible `/chat/completions` endpoint over HTTP."""

    RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
    DEFAULT_WINDOW = 8192

    def __init__(self, config: LLMConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config)
        if not config.base_url:
            raise LLMError("the openai LLM backend needs base_url (e.g. http://127.0.0.1:8080/v1)")
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            timeout=config.timeout_s,
            transport=transport,
        )

    @property
    def context_window(self) -> int:
        return self.config.context_window or self.DEFAULT_WINDOW

    @functools.cached_property
    def _tokenizer(self) -> Any:
        if self.config.tokenizer is None:
            return None
        from indexers.models.causal_lm import resolve_lm_folder

        folder = resolve_lm_folder(self.config.tokenizer, self.config.resolved_cache_dir())
        with IMPORT_LOCK:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(folder)

    def count_tokens(self, text: str) -> int:
        """Exact with `tokenizer` set; otherwise an estimate of one token per four characters."""
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return max(1, (len(text) + 3) // 4) if text else 0

    def _body(
        self, messages: Sequence[ChatMessage], max_tokens: int, temperature: float, stop: Sequence[str] | None
    ) -> dict[str, Any]:
        check_messages(messages)
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        return body

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST with bounded retries and exponential back-off; returns a 2xx response."""
        problem = ""
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(min(0.25 * 2**attempt, 4.0))
            try:
                response = self._client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in self.RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise LLMError(
                    f"LLM endpoint refused the request: HTTP {response.status_code} {response.text[:300]}"
                )
            return response
        raise LLMUnavailable(
            f"LLM endpoint {self.config.base_url} unavailable after "
            f"{self.config.max_retries + 1} tries ({problem})"
        )

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        turns = with_json_instruction(messages) if json_mode else messages
        body = self._body(turns, max_tokens, temperature, stop)
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        started = time.perf_counter()
        response = self._post(body)
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMBadOutput(f"LLM endpoint answered an unexpected body: {response.text[:300]}") from exc
        usage = payload.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens") or sum(self.count_tokens(m["content"]) for m in turns)
        completion_tokens = usage.get("completion_tokens") or self.count_tokens(text)
        return Completion(
            text.strip(),
            int(prompt_tokens),
            int(completion_tokens),
            str(choice.get("finish_reason") or "stop"),
            time.perf_counter() - started,
        )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        body = {**self._body(messages, max_tokens, temperature, stop), "stream": True}
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    error = LLMUnavailable if response.status_code in self.RETRY_STATUS else LLMError
                    raise error(f"LLM endpoint answered HTTP {response.status_code}: {response.text[:300]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        raise LLMBadOutput(f"unexpected stream event: {data[:200]}") from exc
                    if delta:
                        yield delta
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"LLM endpoint {self.config.base_url} unavailable: {exc}") from exc


@functools.cache
def load_llm(config: LLMConfig) -> LLM:
    """The LLM for `config`, one instance per process and config (an in-process model loads on first use)."""
    if config.backend == "llamacpp":
        from indexers.models.llamacpp import LlamaCppLLM

        return LlamaCppLLM(config)
    return LocalLLM(config) if config.backend == "local" else OpenAILLM(config)
