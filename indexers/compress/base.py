"""The compressor interface and its result: text or passages in, fewer words out."""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from indexers.errors import InvalidInput, RetrievalError

__all__ = [
    "CompressResult",
    "Compressor",
    "Deadline",
    "DeadlineExceeded",
    "check_deadline",
    "check_request",
    "token_budget",
]


class DeadlineExceeded(RetrievalError):
    """Compression stopped because its deadline passed (or its caller gave up) before it finished."""


class Deadline:
    """When a piece of work must stop: `seconds` from now, or as soon as `cancel()` is called (its
    caller went away). Safe to cancel from another thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def passed(self) -> bool:
        return self.cancelled or time.monotonic() > self.at


def check_deadline(deadline: Deadline | None) -> None:
    """Raise if `deadline` (None: no deadline) has passed or was cancelled.

    Raises:
        DeadlineExceeded: the deadline has passed.
    """
    if deadline is not None and deadline.passed():
        why = "its caller went away" if deadline.cancelled else f"its {deadline.seconds:g} s passed"
        raise DeadlineExceeded(f"compression stopped before it finished: {why}")


@dataclass(frozen=True, slots=True)
class CompressResult:
    """A compressed prompt.

    `tokens_before` / `tokens_after` count the compressor's encoder tokens (word pieces); `rate` is
    `tokens_after / tokens_before` (1.0 keeps everything, 0.33 is about 3x). `words` are the input's
    words (passages in order) and `kept` says which survive; `kept` is None where the output is not a
    subset of the input (an LLM summary).
    """

    text: str
    rate: float
    tokens_before: int
    tokens_after: int
    words: list[str]
    kept: list[bool] | None
    seconds: float


class Compressor(ABC):
    """Compress one text or a list of passages to a target rate or a target token count."""

    @abstractmethod
    def compress(
        self,
        passages: str | Sequence[str],
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        force_tokens: Sequence[str] = (),
        question: str | None = None,
        deadline: Deadline | None = None,
    ) -> CompressResult:
        """Compress `passages` (one string is one passage).

        Args:
            rate: fraction of tokens to keep, in (0, 1].
            target_tokens: tokens to keep; give either this or `rate` (neither: rate 0.5).
            force_tokens: words or phrases kept wherever they occur (case and surrounding
                punctuation ignored).
            question: what the compressed text must answer; given, the parts most relevant to it
                get the budget (question-aware compression), else every part is treated alike.
            deadline: the work stops between encoder batches once it has passed or is cancelled
                (None: no deadline).

        Raises:
            InvalidInput: empty input, a rate outside (0, 1], both or a bad target, a forced
                token that does not occur in the input, or a blank question.
            DeadlineExceeded: `deadline` passed before the compression finished.
        """

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Encoder tokens of `text` (the unit of `rate` and `target_tokens`)."""


def check_request(
    passages: str | Sequence[str], rate: float | None, target_tokens: int | None, question: str | None = None
) -> tuple[list[str], float | None, int | None]:
    """Validated passages (a string becomes one passage) and the budget; rate 0.5 if neither is given.

    Raises:
        InvalidInput: see `Compressor.compress`.
    """
    items = [passages] if isinstance(passages, str) else list(passages)
    if not items or not any(p.strip() for p in items):
        raise InvalidInput("nothing to compress: the text is empty")
    if rate is not None and target_tokens is not None:
        raise InvalidInput("give either rate or target_tokens, not both")
    if rate is not None and not (0.0 < rate <= 1.0) or (rate is not None and math.isnan(rate)):
        raise InvalidInput(f"rate must be in (0, 1], got {rate}")
    if target_tokens is not None and target_tokens < 1:
        raise InvalidInput(f"target_tokens must be at least 1, got {target_tokens}")
    if question is not None and not question.strip():
        raise InvalidInput("the question is blank; leave it out for question-agnostic compression")
    if rate is None and target_tokens is None:
        rate = 0.5
    return [p for p in items if p.strip()], rate, target_tokens


def token_budget(total: int, rate: float | None, target_tokens: int | None) -> int:
    """Tokens to keep out of `total` for a rate or a target (at least 1, at most `total`)."""
    wanted = target_tokens if target_tokens is not None else math.ceil((rate or 1.0) * total)
    return max(1, min(total, wanted))
