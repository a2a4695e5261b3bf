"""The shared answer prompt: keyword-only, the system text chosen by the caller."""

from __future__ import annotations

import pytest

from indexers.models.prompts import CONVERSATION_ANSWER_SYSTEM, PASSAGE_ANSWER_SYSTEM, answer_messages


def test_answer_messages_puts_each_part_in_its_place() -> None:
    messages = answer_messages(question="Who?", context="Ada met Ben.", system=CONVERSATION_ANSWER_SYSTEM)
    assert messages == [
        {"role": "system", "content": CONVERSATION_ANSWER_SYSTEM},
        {"role": "user", "content": "Context:\nAda met Ben.\n\nQuestion: Who?\nAnswer:"},
    ]
    assert "unknown" in PASSAGE_ANSWER_SYSTEM and "Not mentioned" in CONVERSATION_ANSWER_SYSTEM


def test_answer_messages_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        answer_messages("Who?", "Ada met Ben.", PASSAGE_ANSWER_SYSTEM)  # type: ignore[call-arg]
