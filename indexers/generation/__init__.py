"""Constrained generation for GENRE: the name trie and beam search over it."""

from __future__ import annotations
