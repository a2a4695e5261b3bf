"""Brute-force MaxSim over every token vector: the reference oracle for the approximate kinds."""

from __future__ import annotations

import numpy as np

from indexers.base import Hit
from indexers.configs import ExactConfig
from indexers.kinds.late_interaction import TokenIndex
from indexers.scoring.maxsim import maxsim_scores

__all__ = ["ExactMaxSimIndex"]


class ExactMaxSimIndex(TokenIndex):
    """Scores every live document with exact MaxSim (float32 copy of the vectors in memory)."""

    kind = "exact"
    config: ExactConfig

    def __init__(self, config: ExactConfig) -> None:
        super().__init__(config)
        self._dense: np.ndarray | None = None

    def memory_bytes(self) -> int:
        """The token index's bytes plus the float32 copy of every vector, once a search made it."""
        return super().memory_bytes() + (self._dense.nbytes if self._dense is not None else 0)

    def _after_ingest(self, first_row: int) -> None:
        self._dense = None

    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        if self._dense is None:
            self._dense = self.store.decode(self.store.rows)  # type: ignore[union-attr]
        scores = maxsim_scores(query, self._dense, self.store.offsets)  # type: ignore[union-attr]
        alive = self.docs.alive()
        scores[~alive] = -np.inf
        n = int(alive.sum())
        top = np.argpartition(-scores, min(k, n) - 1)[: min(k, n)] if n else np.zeros(0, dtype=np.int64)
        return self.docs.top_hits(top, scores[top], k)
