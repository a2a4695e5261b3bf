"""XTR (ConteXtualized Token Retriever): ranking from retrieved document tokens alone.

One FAISS index holds every document token vector. Each query token retrieves its top-k'
(`candidate_tokens`) document tokens; a document is scored from the tokens it had retrieved, and
query tokens that retrieved none of its tokens count with their k'-th retrieved similarity (the
missing-similarity imputation, `indexers.scoring.imputation`). There is no gather or re-scoring stage:
document vectors exist only as the ANN's codes (8-bit scalar codes with IVF, `pq_m`-byte product
codes with `ivf_pq`); the token store keeps token ids and document offsets, no vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexers.base import Hit, TokenMatch, validate_queries
from indexers.configs import XTRConfig
from indexers.errors import DocumentNotFound, InvalidConfig
from indexers.kinds.late_interaction import ANN_SAMPLE, ANNTokenIndex
from indexers.scoring.imputation import imputed_similarity, score_retrieved
from indexers.storage.token_store import TokenStore

__all__ = ["IMPUTED_TOKEN", "XTRIndex"]

ADD_DOCS = 256
"""Documents whose vectors go to the ANN in one call."""
IMPUTED_TOKEN = "[imputed]"
"""The document token named in explanations where the query token retrieved none of the document's."""


class XTRIndex(ANNTokenIndex):
    """Documents ranked by XTR's imputed sum over query tokens of their best retrieved similarity."""

    kind = "xtr"
    config: XTRConfig

    def _new_store(self, dim: int) -> TokenStore:
        return TokenStore(dim, "none")

    def _load_store(self, path: Path, dim: int) -> TokenStore:
        return TokenStore.load(path, dim, "none", self.config.pq_m)

    def _after_chunk(self, vectors: list[np.ndarray], expected_vectors: int) -> None:
        """Add the chunk's vectors to the ANN, creating (and training) it on the first chunk."""
        if self.ann is None:
            order = np.random.default_rng(0).permutation(len(vectors))
            lengths = np.cumsum([len(vectors[i]) for i in order])
            take = order[: int(np.searchsorted(lengths, ANN_SAMPLE)) + 1]
            self.ann = self._new_ann(np.concatenate([vectors[i] for i in np.sort(take)]), expected_vectors)
        for start in range(0, len(vectors), ADD_DOCS):
            self.ann.add(np.concatenate(vectors[start : start + ADD_DOCS]))

    def _retrieve(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k' tokens per query token: similarities, store rows and owning documents, `(q, k')` each.

        Raises:
            InvalidConfig: k' exceeds the number of indexed token vectors.
        """
        assert self.ann is not None and self.store is not None
        k_prime = self.config.candidate_tokens
        if k_prime > self.ann.ntotal:
            raise InvalidConfig(
                f"candidate_tokens (k') = {k_prime} exceeds the {self.ann.ntotal} token vectors in this "
                f"index; use candidate_tokens <= {self.ann.ntotal} or index more documents"
            )
        sims, rows = self.ann.search(query, k_prime)
        return sims, rows, self.store.doc_of(rows)

    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        if self.ann is None:
            return []
        sims, _, docs = self._retrieve(query)
        retrieved = score_retrieved(sims, docs, self.docs.alive())
        return self.docs.top_hits(retrieved.docs, retrieved.scores, k)

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """Per query token: the document's best retrieved token and its similarity, or, if the
        query token retrieved none of the document's tokens, `IMPUTED_TOKEN` and the imputed
        similarity. The scores sum to the document's search score.

        Raises:
            InvalidInput: the query is empty or too long.
            DocumentNotFound: `doc_id` is not in the index.
            InvalidConfig: k' exceeds the number of indexed token vectors.
        """
        validate_queries([query], 1)
        internal = self.docs.by_ext.get(doc_id)
        if internal is None or self.store is None or self.ann is None:
            raise DocumentNotFound(f"document {doc_id!r} is not in this index")
        encoded = self.encoder.encode([query], is_query=True)[0]
        sims, rows, docs = self._retrieve(encoded.vectors)
        imputed = imputed_similarity(sims, docs)
        own = docs == internal
        best = np.where(own, sims, -np.inf).argmax(axis=1)
        found = own.any(axis=1)
        query_tokens = self.encoder.decode_tokens(encoded.token_ids)
        matches = []
        for i, query_token in enumerate(query_tokens):
            if found[i]:
                token_id = self.store.token_ids[rows[i, best[i]]]
                doc_token, score = self.encoder.decode_tokens([token_id])[0], float(sims[i, best[i]])
            else:
                doc_token, score = IMPUTED_TOKEN, float(imputed[i])
            matches.append(TokenMatch(query_token=query_token, doc_token=doc_token, score=score))
        return matches
