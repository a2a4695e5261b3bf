"""From retrieved passages to an answer prompt: compress (or not), fit the LLM's window, count tokens."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from indexers.compress.base import Compressor, CompressResult, Deadline
from indexers.compress.words import split_words
from indexers.errors import InvalidInput
from indexers.models.llm import LLM, ChatMessage
from indexers.models.prompts import PASSAGE_ANSWER_SYSTEM, answer_messages

__all__ = ["AnswerPrompt", "fit_to_tokens", "prepare_answer"]


@dataclass(frozen=True, slots=True)
class AnswerPrompt:
    """The chat to send, the context it carries (compressed and cut to the window), and what
    compression did: LLM tokens of the context before and after, the compressor's result (None
    without compression) and its wall time."""

    messages: list[ChatMessage]
    context: str
    context_tokens_before: int
    context_tokens_after: int
    compression: CompressResult | None
    compress_seconds: float


def fit_to_tokens(llm: LLM, text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` LLM tokens (the head is kept)."""
    words, _ = split_words(text)
    if llm.count_tokens(text) <= limit:
        return text
    low, high = 0, len(words)  # the longest prefix of words that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if llm.count_tokens(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def prepare_answer(
    llm: LLM,
    question: str,
    passages: Sequence[str],
    compressor: Compressor | None = None,
    *,
    rate: float | None = None,
    target_tokens: int | None = None,
    force_tokens: Sequence[str] = (),
    question_aware: bool = True,
    max_tokens: int = 64,
    deadline: Deadline | None = None,
) -> AnswerPrompt:
    """Compress `passages` (when a compressor is given; for `question` unless not `question_aware`)
    and build the answer chat, cutting the context so that the prompt and `max_tokens` of reply fit
    the LLM's window. `deadline` bounds the compression.

    Raises:
        InvalidInput: an empty question or no passage text; see also `Compressor.compress`.
        DeadlineExceeded: the compression did not finish before `deadline`.
    """
    if not question.strip():
        raise InvalidInput("the question is empty")
    original = "\n\n".join(p for p in passages if p.strip())
    if not original:
        raise InvalidInput("no passage text to answer from")
    before = llm.count_tokens(original)
    compression, seconds, context = None, 0.0, original
    if compressor is not None:
        started = time.perf_counter()
        compression = compressor.compress(
            list(passages),
            rate=rate,
            target_tokens=target_tokens,
            force_tokens=force_tokens,
            question=question if question_aware else None,
            deadline=deadline,
        )
        seconds, context = time.perf_counter() - started, compression.text
    empty = answer_messages(question=question, context="", system=PASSAGE_ANSWER_SYSTEM)
    overhead = llm.count_tokens("".join(m["content"] for m in empty)) + 32
    context = fit_to_tokens(llm, context, llm.context_window - max_tokens - overhead)
    messages = answer_messages(question=question, context=context, system=PASSAGE_ANSWER_SYSTEM)
    return AnswerPrompt(messages, context, before, llm.count_tokens(context), compression, seconds)
