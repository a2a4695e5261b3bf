"""Model loading: token, dense and vocabulary encoders, causal LMs, LLM clients, prompts."""

from __future__ import annotations
