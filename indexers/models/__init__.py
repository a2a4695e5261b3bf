"""Models: loading them and talking to them.

- `causal_lm`: causal language models for generation (the local LLM backend, GENRE).
- `encoders`: text encoders: per-token vectors, single vectors and vocabulary-space vectors.
- `llm`: the chat-completion interface, with a local and an OpenAI-compatible HTTP backend.
- `prompts`: chat prompts shared by the LLM callers (the short-answer prompt).
"""

from __future__ import annotations

__all__: list[str] = []
