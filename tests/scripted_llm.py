"""A scripted stand-in for the LLM interface, for fast tests: no model, word counts as tokens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from indexers.errors import LLMUnavailable
from indexers.models.llm import LLM, ChatMessage, Completion, LLMConfig

Reply = Callable[[Sequence[ChatMessage], bool], str | None]


class ScriptedLLM(LLM):
    """Answers each call with `reply(messages, json_mode)`, or with fixed replies in turn (the last one
    repeats); a reply of None raises LLMUnavailable. Every chat it was sent is recorded in `calls`."""

    def __init__(self, reply: Reply | Sequence[str], window: int = 4096) -> None:
        super().__init__(LLMConfig(model="scripted"))
        if callable(reply):
            self.reply = reply
        else:
            replies = list(reply)
            self.reply = lambda _messages, _json: replies.pop(0) if len(replies) > 1 else replies[0]
        self.window = window
        self.calls: list[list[ChatMessage]] = []
        self._lock = threading.Lock()

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _text(self, messages: Sequence[ChatMessage], json_mode: bool) -> str:
        with self._lock:
            self.calls.append(list(messages))
            text = self.reply(messages, json_mode)
        if text is None:
            raise LLMUnavailable("scripted timeout")
        return text

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        text = self._text(messages, json_mode)
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
        for word in self._text(messages, False).split():
            yield word + " "
