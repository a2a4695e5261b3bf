"""Index kinds by name: one plain dict, imported lazily on first use."""

from __future__ import annotations

import importlib
from pathlib import Path

from indexers.base import Index, read_manifest
from indexers.configs import IndexConfig
from indexers.errors import InvalidConfig

__all__ = ["KINDS", "create_index", "index_class", "open_index"]

KINDS: dict[str, str] = {
    "exact": "indexers.kinds.exact:ExactMaxSimIndex",
    "colbert_pooled": "indexers.kinds.colbert_pooled:PooledColBERTIndex",
    "bm25": "indexers.kinds.bm25:BM25Index",
    "dense": "indexers.kinds.dense:DenseIndex",
    "genre": "indexers.kinds.genre:GenreIndex",
    "xtr": "indexers.kinds.xtr:XTRIndex",
    "slim": "indexers.kinds.slim:SlimIndex",
    "lens": "indexers.kinds.lens:LensIndex",
}


def index_class(kind: str) -> type[Index]:
    """The class registered for `kind`, imported on first use.

    Raises:
        InvalidConfig: `kind` is not registered.
    """
    target = KINDS.get(kind)
    if target is None:
        raise InvalidConfig(f"unknown index kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    module_name, class_name = target.split(":")
    cls: type[Index] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_index(config: IndexConfig) -> Index:
    """A new, empty index of the config's kind."""
    return index_class(config.kind)(config)


def open_index(path: Path) -> Index:
    """Open a saved index folder, whatever its kind (read from its manifest)."""
    return index_class(read_manifest(path).kind).load(path)
