"""Token-pooled ColBERT: hierarchical pooling at index time, ANN candidates, exact MaxSim re-scoring.

Search (PLAID-like, two stages):
1. every query token retrieves its `candidate_tokens` nearest stored (pooled) token vectors from the
   FAISS index; candidate documents get XTR's approximate score from the retrieved tokens alone
   (`indexers.scoring.imputation.score_retrieved`: best retrieved similarity per query token, the query
   token's lowest retrieved similarity imputed where it retrieved none of the document's vectors);
2. the `rerank_docs` best candidates are re-scored with exact MaxSim over all their stored vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexers.base import Hit
from indexers.configs import PooledColBERTConfig
from indexers.kinds.late_interaction import ANN_SAMPLE, ANNTokenIndex
from indexers.scoring.imputation import score_retrieved
from indexers.scoring.maxsim import maxsim_scores
from indexers.storage.token_store import TokenStore

__all__ = ["PooledColBERTIndex"]

ADD_SLICE = 262_144


class PooledColBERTIndex(ANNTokenIndex):
    """Late interaction over hierarchically pooled token vectors with FAISS candidate generation."""

    kind = "colbert_pooled"
    config: PooledColBERTConfig

    def __init__(self, config: PooledColBERTConfig) -> None:
        super().__init__(config)
        self.pool_factor = config.pool_factor

    def _new_store(self, dim: int) -> TokenStore:
        return TokenStore(dim, self.config.vector_codec, self.config.pq_m)

    def _load_store(self, path: Path, dim: int) -> TokenStore:
        return TokenStore.load(path, dim, self.config.vector_codec, self.config.pq_m)

    def _after_ingest(self, first_row: int) -> None:
        """Add the new store rows to the ANN, creating (and training) it on first use."""
        store = self.store
        if store is None or store.num_vectors == first_row:
            return
        if self.ann is None:
            rng = np.random.default_rng(0)
            n_new = store.num_vectors - first_row
            take = np.sort(rng.choice(n_new, size=min(n_new, ANN_SAMPLE), replace=False)) + first_row
            self.ann = self._new_ann(store.decode(store.rows[take]), n_new)
        for start in range(first_row, store.num_vectors, ADD_SLICE):
            self.ann.add(store.decode(store.rows[start : min(start + ADD_SLICE, store.num_vectors)]))

    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        store, ann = self.store, self.ann
        if store is None or ann is None:
            return []
        sims, rows = ann.search(query, self.config.candidate_tokens)
        retrieved = score_retrieved(sims, store.doc_of(rows), self.docs.alive())
        candidates = retrieved.docs
        if len(candidates) == 0:
            return []
        if len(candidates) > self.config.rerank_docs:
            keep = np.argpartition(-retrieved.scores, self.config.rerank_docs - 1)[: self.config.rerank_docs]
            candidates = candidates[keep]
        vectors, offsets = store.gather(candidates)
        return self.docs.top_hits(candidates, maxsim_scores(query, vectors, offsets), k)
