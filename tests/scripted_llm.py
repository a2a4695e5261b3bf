"""A scripted stand-in for the LLM interface: replies come from a function of the messages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from indexers.errors import LLMUnavailable
from indexers.llm import LLM, ChatMessage, Completion, LLMConfig

Reply = Callable[[Sequence[ChatMessage], bool], str]


class ScriptedLLM(LLM):
    """Answers each call with `reply(messages, json_mode)`; a reply of None raises LLMUnavailable.

    Tokens are counted as white-space separated words; every call is recorded in `calls`.
    """

    def __init__(
        self, reply: Callable[[Sequence[ChatMessage], bool], str | None], window: int = 4096
    ) -> None:
        super().__init__(LLMConfig(model="scripted"))
        self.reply = reply
        self.window = window
        self.calls: list[list[ChatMessage]] = []
        self._lock = threading.Lock()

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        with self._lock:
            self.calls.append(list(messages))
        text = self.reply(messages, json_mode)
        if text is None:
            raise LLMUnavailable("scripted timeout")
        prompt = sum(self.count_tokens(m["content"]) for m in messages)
        return Completion(text, prompt, self.count_tokens(text), "stop", 0.0)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        yield self.chat(messages, max_tokens=max_tokens).text
