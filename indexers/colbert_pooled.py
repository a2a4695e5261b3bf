"""Token-pooled ColBERT: hierarchical pooling at index time, ANN candidates, exact MaxSim re-scoring.

Search (PLAID-like, two stages):
1. every query token retrieves its `candidate_tokens` nearest stored (pooled) token vectors from the
   FAISS index; a candidate document's approximate score sums, over query tokens, the best retrieved
   similarity among its vectors, or, where a query token retrieved none of them, that query token's
   lowest retrieved similarity (an upper bound of the missing one, as in XTR's imputation);
2. the `rerank_docs` best candidates are re-scored with exact MaxSim over all their stored vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import Hit
from indexers.configs import PooledColBERTConfig
from indexers.errors import CorruptIndex
from indexers.late_interaction import TokenIndex
from indexers.maxsim import maxsim_scores
from indexers.token_ann import TokenANN
from indexers.token_store import TokenStore

__all__ = ["PooledColBERTIndex"]

ADD_SLICE = 262_144


class PooledColBERTIndex(TokenIndex):
    """Late interaction over hierarchically pooled token vectors with FAISS candidate generation."""

    kind = "colbert_pooled"
    config: PooledColBERTConfig

    def __init__(self, config: PooledColBERTConfig) -> None:
        super().__init__(config)
        self.pool_factor = config.pool_factor
        self.ann: TokenANN | None = None

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
            cfg = self.config
            rng = np.random.default_rng(0)
            n_new = store.num_vectors - first_row
            take = np.sort(rng.choice(n_new, size=min(n_new, 262_144), replace=False)) + first_row
            self.ann = TokenANN.create(
                store.decode(store.rows[take]),
                n_new,
                cfg.ann,
                nlist=cfg.nlist,
                nprobe=cfg.nprobe,
                hnsw_m=cfg.hnsw_m,
                ef_search=cfg.ef_search,
                use_gpu=cfg.use_gpu,
            )
        for start in range(first_row, store.num_vectors, ADD_SLICE):
            self.ann.add(store.decode(store.rows[start : min(start + ADD_SLICE, store.num_vectors)]))

    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        store, ann = self.store, self.ann
        if store is None or ann is None:
            return []
        sims, rows = ann.search(query, self.config.candidate_tokens)
        q_index, slot = np.nonzero(rows >= 0)
        if len(q_index) == 0:
            return []
        docs = store.doc_of(rows[q_index, slot])
        live = self.docs.alive()[docs]
        q_index, docs, hit_sims = q_index[live], docs[live], sims[q_index, slot][live]
        if len(docs) == 0:
            return []
        candidates, position = np.unique(docs, return_inverse=True)
        floor = np.where(rows >= 0, sims, np.inf).min(axis=1)  # lowest retrieved similarity per query token
        approx = np.tile(floor, (len(candidates), 1))
        np.maximum.at(approx, (position, q_index), hit_sims)
        approx_scores = approx.sum(axis=1)
        if len(candidates) > self.config.rerank_docs:
            keep = np.argpartition(-approx_scores, self.config.rerank_docs - 1)[: self.config.rerank_docs]
            candidates = candidates[keep]
        vectors, offsets = store.gather(candidates)
        return self.docs.top_hits(candidates, maxsim_scores(query, vectors, offsets), k)

    def _save_payload(self, path: Path) -> None:
        super()._save_payload(path)
        if self.ann is not None:
            self.ann.save(path)

    @classmethod
    def _load_payload(cls, path: Path, config: Any) -> Self:
        index = super()._load_payload(path, config)
        if index.store is not None:
            cfg = index.config
            index.ann = TokenANN.load(path, nprobe=cfg.nprobe, ef_search=cfg.ef_search, use_gpu=cfg.use_gpu)
            if index.ann.ntotal != index.store.num_vectors:
                raise CorruptIndex(
                    f"{path}: ANN holds {index.ann.ntotal} vectors, store {index.store.num_vectors}"
                )
        return index
