"""Constrained generation for GENRE.

- `name_trie`: a compact, updatable prefix trie over the token ids of document names.
- `trie_decoding`: beam search with a causal LM that can only produce names in the trie.
"""

from __future__ import annotations

__all__: list[str] = []
