"""Chat prompts shared by the library's LLM callers: the short-answer prompt and its system texts."""

from __future__ import annotations

from indexers.models.llm import ChatMessage

__all__ = ["CONVERSATION_ANSWER_SYSTEM", "PASSAGE_ANSWER_SYSTEM", "answer_messages"]

PASSAGE_ANSWER_SYSTEM = (
    "Answer the question using only the context. Answer with a short phrase (a few words), "
    "no explanation. If the context does not say, answer: unknown."
)
CONVERSATION_ANSWER_SYSTEM = (
    "Answer the question about the conversation using only the context. Reply with a short phrase, "
    "no explanation. If the context does not contain the answer, reply: Not mentioned."
)


def answer_messages(*, question: str, context: str, system: str) -> list[ChatMessage]:
    """The chat asking for a short answer to `question` from `context`, under `system`
    (`PASSAGE_ANSWER_SYSTEM` for retrieved passages, `CONVERSATION_ANSWER_SYSTEM` for agent memory)."""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}\nAnswer:"},
    ]
