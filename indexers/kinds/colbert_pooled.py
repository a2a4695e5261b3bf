"""Token-pooled ColBERT: hierarchical pooling at index time, then PLAID-like search.

With `vector_codec="residual"` (the default) each pooled vector is a centroid id plus product-quantised
residual codes, and there is no second copy of the vectors (PLAID's stages):
1. each query token probes its `nprobe` nearest codec centroids; the documents owning rows in those
   centroids' posting lists are scored from centroid similarities alone (per query token, the best
   centroid similarity among the document's probed rows);
2. the `centroid_docs` best of those are scored by centroid interaction (MaxSim with each of the
   document's vectors replaced by its centroid);
3. the `max(k, rerank_docs)` best (default 32) are re-scored with exact MaxSim, each row as its
   centroid similarity plus the inner product with its decoded residual.

With `vector_codec="float16"` (or `"pq"`) the vectors are also in a FAISS token index:
1. every query token retrieves its `candidate_tokens` nearest stored (pooled) token vectors; candidate
   documents get XTR's approximate score from the retrieved tokens alone
   (`indexers.scoring.imputation.score_retrieved`: best retrieved similarity per query token, the query
   token's lowest retrieved similarity imputed where it retrieved none of the document's vectors);
2. the `max(k, rerank_docs)` best candidates (default 128) are re-scored with exact MaxSim over all
   their stored vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexers.base import Hit
from indexers.configs import PooledColBERTConfig
from indexers.kinds.late_interaction import ANN_SAMPLE, ANNTokenIndex
from indexers.scoring.centroid_maxsim import centroid_maxsim, centroid_table, probed_candidates
from indexers.scoring.imputation import score_retrieved
from indexers.scoring.maxsim import segment_max
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
        return TokenStore(dim, self.config.vector_codec, self.config.pq_m, self._residual_settings(dim))

    def _load_store(self, path: Path, dim: int) -> TokenStore:
        return TokenStore.load(
            path, dim, self.config.vector_codec, self.config.pq_m, self._residual_settings(dim)
        )

    def _after_ingest(self, first_row: int) -> None:
        """Add the new store rows to the ANN, creating (and training) it on first use."""
        store = self.store
        if store is None or store.num_vectors == first_row or store.codec == "residual":
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
        if store is None:
            return []
        centroid_sims = table = None
        if store.codec == "residual":
            query = store.project(query)
            centroid_sims = query @ store.residual_codec.centroids.T  # (q, centroids)
            table = centroid_table(centroid_sims)
            candidates, scores = self._centroid_candidates(store, centroid_sims, table)
        elif ann is not None:
            sims, rows = ann.search(query, self.config.candidate_tokens)
            retrieved = score_retrieved(sims, store.doc_of(rows), self.docs.alive())
            candidates, scores = retrieved.docs, retrieved.scores
        else:
            return []
        if len(candidates) == 0:
            return []
        depth = max(k, self._rerank_docs(store))
        if table is not None and len(candidates) > depth and self.config.centroid_docs > depth:
            candidates = _best(candidates, scores, self.config.centroid_docs)
            scores = self._centroid_interaction(store, table, candidates)
        candidates = _best(candidates, scores, depth)
        sims, offsets = store.similarities(query, candidates, centroid_sims)
        return self.docs.top_hits(candidates, segment_max(sims, offsets).sum(axis=1), k)

    def _rerank_docs(self, store: TokenStore) -> int:
        """The configured re-scoring depth, else 32 for residual codes (centroid interaction chose them;
        SciFact dev and train lose 0.2 point of nDCG@10 against 128 for about 6 ms less a query) and
        128 for candidates from the token ANN."""
        if self.config.rerank_docs is not None:
            return int(self.config.rerank_docs)
        return 32 if store.codec == "residual" else 128

    def _centroid_candidates(
        self, store: TokenStore, centroid_sims: np.ndarray, table: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Live documents with rows in the query tokens' `nprobe` nearest centroids' posting lists, and
        their approximate scores: per query token the best centroid similarity among those rows, summed.
        `centroid_sims` is `(q, num_centroids)`, `table` the same as `centroid_table` lays it out."""
        nprobe = min(self.config.nprobe, centroid_sims.shape[1])
        probed = np.unique(np.argpartition(-centroid_sims, nprobe - 1, axis=1)[:, :nprobe])
        return probed_candidates(table, probed, store.postings(), store.offsets, self.docs.alive())

    def _centroid_interaction(
        self, store: TokenStore, table: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray:
        """The `candidates`' MaxSim over all their rows with each row replaced by its centroid
        (PLAID's centroid interaction): one look-up per row in `table` (`centroid_table`)."""
        codes = store.centroid_ids[store.rows_of(candidates)]
        return centroid_maxsim(table, codes, store.offsets_of(candidates))


def _best(candidates: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The `n` highest-scoring candidates (all of them when there are at most `n`), in no order."""
    return candidates if len(candidates) <= n else candidates[np.argpartition(-scores, n - 1)[:n]]
