"""Tessera's retrieval library: index kinds over token-level representations, behind one interface.

Never imports FastAPI or Celery and never reads the environment: configs arrive as arguments.
"""

from __future__ import annotations

from indexers.base import Doc, Hit, Index, Manifest
from indexers.configs import IndexConfig, parse_config
from indexers.errors import (
    CorruptIndex,
    DocumentNotFound,
    IndexExists,
    IndexNotFound,
    InvalidConfig,
    InvalidInput,
    RetrievalError,
    UnsupportedOperation,
)
from indexers.registry import KINDS, create_index, index_class, open_index

__all__ = [
    "KINDS",
    "CorruptIndex",
    "Doc",
    "DocumentNotFound",
    "Hit",
    "Index",
    "IndexConfig",
    "IndexExists",
    "IndexNotFound",
    "InvalidConfig",
    "InvalidInput",
    "Manifest",
    "RetrievalError",
    "UnsupportedOperation",
    "create_index",
    "index_class",
    "open_index",
    "parse_config",
]
