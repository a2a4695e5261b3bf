"""Helpers for comparing ANN kinds with the exact MaxSim oracle on the fake encoder
(the synthetic corpus, its queries and the oracle are fixtures in tests/unit/conftest.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from indexers import Index, parse_config

WORDS = [f"w{i}" for i in range(400)]


def config(kind: str, **extra: object) -> Any:
    """The config of `kind` on the 64-dimensional fake encoder, with `extra` fields."""
    return parse_config({"kind": kind, "encoder": {"model": "fake:hash:64"}, **extra})


def recall_at_10(index: Index, oracle: Index, queries: list[str]) -> float:
    """Mean share of the oracle's top 10 that `index` also returns in its top 10."""
    got = index.search(queries, k=10)
    want = oracle.search(queries, k=10)
    overlaps = [
        len({h.doc_id for h in g} & {h.doc_id for h in w}) / 10 for g, w in zip(got, want, strict=True)
    ]
    return float(np.mean(overlaps))
