"""Shared fixtures: the tiny BEIR-layout corpus, fake-encoder configs, and per-kind configs."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's model code on one torch thread (two threads thrash on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
