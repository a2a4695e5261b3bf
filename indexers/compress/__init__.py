"""Prompt compression: LLMLingua-2-style token classification and CRAG-style cluster condensing."""

from __future__ import annotations

from indexers.compress.base import Compressor, CompressResult, Deadline, DeadlineExceeded
from indexers.compress.crag import CragCompressor, CragConfig
from indexers.compress.lingua import KeepHead, LinguaCompressor, LinguaConfig, load_lingua

__all__ = [
    "CompressResult",
    "Compressor",
    "CragCompressor",
    "CragConfig",
    "Deadline",
    "DeadlineExceeded",
    "KeepHead",
    "LinguaCompressor",
    "LinguaConfig",
    "load_lingua",
]
