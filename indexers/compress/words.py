"""Words: the unit of every keep / drop decision (whitespace-delimited, never half a word)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

__all__ = ["join_words", "normalise", "split_words"]

_WORD = re.compile(r"\S+")


def split_words(text: str) -> tuple[list[str], list[bool]]:
    """The words of `text` and, per word, whether a line break precedes it (kept in the output)."""
    words, breaks, last = [], [], 0
    for match in _WORD.finditer(text):
        words.append(match.group())
        breaks.append("\n" in text[last : match.start()])
        last = match.end()
    return words, breaks


def join_words(words: Sequence[str], breaks: Sequence[bool], kept: Sequence[bool]) -> str:
    """The kept words joined by spaces; a line break where any dropped gap before a word held one."""
    parts: list[str] = []
    pending_break = False
    for word, brk, keep in zip(words, breaks, kept, strict=True):
        pending_break = pending_break or brk
        if keep:
            if parts:
                parts.append("\n" if pending_break else " ")
            parts.append(word)
            pending_break = False
    return "".join(parts)


def normalise(word: str) -> str:
    """A word for matching: lower case, surrounding punctuation stripped (kept if that is all it is)."""
    lowered = word.lower()
    return lowered.strip(string.punctuation + "“”‘’") or lowered
