"""Unit fixtures: a synthetic corpus of random words, its queries, and the exact MaxSim oracle over it."""

from __future__ import annotations

import numpy as np
import pytest

from indexers import Doc, Index, create_index
from tests.unit.synthetic import WORDS, config


@pytest.fixture(scope="module")
def corpus() -> list[Doc]:
    """300 documents of 40 random words; document i is the target of query i."""
    rng = np.random.default_rng(7)
    return [Doc(id=f"doc{i}", text=" ".join(rng.choice(WORDS, size=40))) for i in range(300)]


@pytest.fixture(scope="module")
def queries(corpus: list[Doc]) -> list[str]:
    """Six words drawn from each of the first 40 documents."""
    rng = np.random.default_rng(8)
    return [" ".join(rng.choice(d.text.split(), size=6, replace=False)) for d in corpus[:40]]


@pytest.fixture(scope="module")
def oracle(corpus: list[Doc]) -> Index:
    """Exact MaxSim over the corpus."""
    index = create_index(config("exact"))
    index.build(corpus)
    return index
