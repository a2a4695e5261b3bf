"""The llama.cpp LLM backend: a GGUF model run in this process by llama.cpp's own server engine, through
the `xllamacpp` binding (a prebuilt CPU wheel, nothing to compile).

The quantised weights are used without de-quantisation, by default re-quantised once for llama.cpp's
fastest CPU kernels (`requantize`, see `indexers.models.requantize`), with the chat template stored in
the GGUF file. `parallel` slots decode concurrent calls together (continuous batching), each slot with the
whole context window; `threads` caps the CPU threads. JSON mode constrains decoding with llama.cpp's JSON
grammar, so a reply that is not cut short by `max_tokens` parses. Token counts are the model's own
tokenizer's.

Threads: by default the cores this process may use less one (at least 1), so that encoders running
beside the model (memory ingestion embeds while it extracts) do not oversubscribe the cores. The wheel
runs its threads through OpenMP, whose default waiting policy spins; with more busy threads than cores
(other jobs on the machine) SmolLM2 generation with 2 threads fell from about 16 to about 1 token per
second on a 2-core machine. So this module sets `OMP_WAIT_POLICY=PASSIVE` before llama.cpp loads unless
the environment sets it. That only takes effect while no OpenMP runtime is loaded in the process (torch
loads one too): a process that imports torch first should export `OMP_WAIT_POLICY=PASSIVE` itself, or
give llama.cpp fewer threads than free cores.

Bounds: `timeout_s` is checked after every generated token and stops generation (finish reason
`time`); evaluating the prompt itself cannot be interrupted, and a prompt is at most one context window.
The engine also listens on a random local port (`127.0.0.1`) behind a random API key; this backend uses
that port only to apply the chat template and tokenize.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from indexers.errors import InvalidConfig, InvalidInput, LLMError, LLMUnavailable
from indexers.import_lock import IMPORT_LOCK
from indexers.models.causal_lm import PACKAGED_LMS, resolve_gguf_file
from indexers.models.llm import (
    LLM,
    ChatMessage,
    Completion,
    LLMConfig,
    check_messages,
    with_json_instruction,
)
from indexers.models.requantize import requantized_gguf
from indexers.parallel import available_cores

__all__ = ["LlamaCppLLM"]

MAX_DEFAULT_WINDOW = 8192


@dataclass(frozen=True, slots=True)
class _Engine:
    """The loaded engine and how to reach its local port (no proxies: a loopback address)."""

    server: Any
    address: str
    key: str
    trained_window: int = MAX_DEFAULT_WINDOW
    opener: urllib.request.OpenerDirector = field(
        default_factory=lambda: urllib.request.build_opener(urllib.request.ProxyHandler({}))
    )

    def call(self, path: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        """GET (no body) or POST `body` as JSON to the engine; the JSON reply.

        Raises:
            LLMError: the engine refused the request.
            LLMUnavailable: the engine could not be reached.
        """
        request = urllib.request.Request(
            self.address + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with self.opener.open(request, timeout=timeout) as response:
                payload: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise LLMError(f"llama.cpp refused {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        except OSError as exc:  # URLError, refused connections, timeouts
            raise LLMUnavailable(f"llama.cpp engine unreachable: {exc}") from exc
        return payload


@dataclass(slots=True)
class _Run:
    """What one streamed generation reported: its finish reason, usage and how many pieces arrived."""

    finish_reason: str = "stop"
    completion_tokens: int | None = None
    pieces: int = 0
    error: dict[str, Any] = field(default_factory=dict)


class LlamaCppLLM(LLM):
    """A GGUF model (packaged alias or `.gguf` path) run by llama.cpp in this process; loads on first use."""

    def __init__(self, config: LLMConfig) -> None:
        super().__init__(config)
        self._load_lock = threading.Lock()
        self._loaded: _Engine | None = None

    @property
    def _engine(self) -> _Engine:
        """The engine, loaded by the first caller (concurrent first callers wait for that one load)."""
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._start()
            return self._loaded

    def _start(self) -> _Engine:
        cache_dir = self.config.resolved_cache_dir()
        path = resolve_gguf_file(self.config.model, cache_dir)
        if self.config.requantize == "iq4_nl":
            packaged = self.config.model if self.config.model in PACKAGED_LMS else None
            path = requantized_gguf(path, cache_dir, packaged)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # effective only before OpenMP loads
        with IMPORT_LOCK:
            import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self.config.parallel
        params.n_ctx = (self.config.context_window or MAX_DEFAULT_WINDOW) * self.config.parallel
        threads = self.config.threads or max(1, available_cores() - 1)
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_gpu_layers = 0 if self.config.device == "cpu" else -1
        params.warmup = False
        params.verbosity = 0
        params.ui = False
        key = secrets.token_urlsafe(24)
        params.api_keys = [key]
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # the binding raises plain runtime errors for unreadable models
            raise InvalidConfig(f"llama.cpp cannot load {self.config.model!r} ({path}): {exc}") from exc
        engine = _Engine(server, server.listening_address, key)
        meta = engine.call("/v1/models", None, self.config.timeout_s)["data"][0]["meta"]
        return replace(engine, trained_window=int(meta.get("n_ctx_train") or MAX_DEFAULT_WINDOW))

    @property
    def context_window(self) -> int:
        return self.config.context_window or min(self._engine.trained_window, MAX_DEFAULT_WINDOW)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._engine.call(path, body, self.config.timeout_s)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._post("/tokenize", {"content": text, "add_special": False})["tokens"])

    def _prepare(
        self, messages: Sequence[ChatMessage], max_tokens: int, json_mode: bool
    ) -> tuple[list[ChatMessage], int]:
        """The turns to send and the exact token count of their templated prompt, checked against
        the context window."""
        check_messages(messages)
        turns = with_json_instruction(messages) if json_mode else list(messages)
        prompt = self._post("/apply-template", {"messages": turns})["prompt"]
        body = {"content": prompt, "add_special": True, "parse_special": True}
        tokens = len(self._post("/tokenize", body)["tokens"])
        if tokens + max_tokens > self.context_window:
            raise InvalidInput(
                f"prompt of {tokens} tokens plus {max_tokens} reply tokens exceeds the "
                f"context window of {self.context_window} tokens; shorten the prompt"
            )
        return turns, tokens

    @staticmethod
    def _body(
        turns: list[ChatMessage],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] | None,
        json_mode: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": turns,
            "max_tokens": max_tokens,
            "temperature": max(temperature, 0.0),  # 0: greedy
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = list(stop)
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def _generate(self, body: dict[str, Any], on_piece: Callable[[str], bool], started: float) -> _Run:
        """Stream one completion into `on_piece` (which returns True to stop); stops at the time bound."""
        run = _Run()
        deadline = started + self.config.timeout_s

        def receive(chunk: dict[str, Any]) -> bool:
            if "error" in chunk:
                error = chunk["error"]
                run.error = error if isinstance(error, dict) else {"message": str(error)}
                return True
            if chunk.get("usage"):
                run.completion_tokens = int(chunk["usage"].get("completion_tokens", 0))
            for choice in chunk.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    run.pieces += 1
                    if on_piece(piece):
                        run.finish_reason = "stop"
                        return True
                if choice.get("finish_reason"):
                    run.finish_reason = str(choice["finish_reason"])
            if time.perf_counter() >= deadline:
                run.finish_reason = "time"
                return True
            return False

        self._engine.server.handle_chat_completions(body, receive)
        if run.error:
            _raise(run.error)
        return run

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        turns, prompt_tokens = self._prepare(messages, max_tokens, json_mode)
        parts: list[str] = []

        def keep(piece: str) -> bool:
            parts.append(piece)
            return False

        started = time.perf_counter()
        run = self._generate(self._body(turns, max_tokens, temperature, stop, json_mode), keep, started)
        seconds = time.perf_counter() - started
        text = "".join(parts)
        tokens = run.completion_tokens if run.completion_tokens is not None else run.pieces
        return Completion(text.strip(), prompt_tokens, tokens, run.finish_reason, seconds)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        turns, _ = self._prepare(messages, max_tokens, json_mode=False)
        body = self._body(turns, max_tokens, temperature, stop, json_mode=False)
        pieces: queue.Queue[str | None] = queue.Queue()
        closed = threading.Event()
        failures: list[BaseException] = []

        def forward(piece: str) -> bool:
            pieces.put(piece)
            return closed.is_set()

        def work() -> None:
            try:
                self._generate(body, forward, time.perf_counter())
            except BaseException as exc:  # re-raised in the consumer's thread below
                failures.append(exc)
            finally:
                pieces.put(None)

        worker = threading.Thread(target=work, name="llamacpp-stream", daemon=True)
        worker.start()
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        finally:
            closed.set()  # a consumer that stops early ends generation at the next token
        worker.join()
        if failures:
            raise failures[0]


def _raise(error: dict[str, Any]) -> None:
    """Raise the library error for an error reply of the engine."""
    message = f"llama.cpp: {error.get('message') or error}"
    if error.get("type") == "exceed_context_size_error":
        raise InvalidInput(f"{message}; shorten the prompt")
    if int(error.get("code") or 500) >= 500:
        raise LLMUnavailable(message)
    raise LLMError(message)
