"""A scripted LLM for fast tests: fixed replies in order, word counts as tokens, no model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from indexers.llm import LLM, ChatMessage, Completion, LLMConfig


class ScriptedLLM(LLM):
    """Replies with `replies` in turn (the last one repeats); records every chat it was sent."""

    def __init__(self, replies: Sequence[str], window: int = 4096) -> None:
        super().__init__(LLMConfig(model="scripted"))
        self.replies, self.window = list(replies), window
        self.seen: list[list[ChatMessage]] = []

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _next(self, messages: Sequence[ChatMessage]) -> str:
        self.seen.append(list(messages))
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        json_mode: bool = False,
    ) -> Completion:
        text = self._next(messages)
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
        for word in self._next(messages).split():
            yield word + " "
