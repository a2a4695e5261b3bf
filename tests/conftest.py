"""Shared fixtures: the tiny BEIR-layout corpus, fake-encoder configs, and per-kind configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.base import Doc
from indexers.corpus import read_corpus

DATA = Path(__file__).parent / "data"
FAKE = {"model": "fake:hash", "batch_size": 8}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The tiny BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."""
    return DATA


@pytest.fixture(scope="session")
def tiny_docs() -> list[Doc]:
    return list(read_corpus(DATA / "corpus.jsonl"))
