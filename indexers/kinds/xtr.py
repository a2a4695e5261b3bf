"""XTR (ConteXtualized Token Retriever): ranking from retrieved document tokens alone.

Each query token retrieves its top-k' (`candidate_tokens`) document tokens; a document is scored
from the tokens it had retrieved, and query tokens that retrieved none of its tokens count with their
k'-th retrieved similarity (the missing-similarity imputation, `indexers.scoring.imputation`). There
is no gather or re-scoring stage. Where the token vectors live (`vector_codec`):

- `ann` (default): one FAISS index holds every document token vector, only as its codes (8-bit scalar
  codes with IVF, `pq_m`-byte product codes with `ivf_pq`); the token store keeps token ids and
  document offsets, no vectors.
- `residual` (WARP-style: XTR over PLAID's compression): the token store keeps each vector as a
  centroid id plus residual codes (`indexers.storage.residual`), no FAISS index. Each query token
  probes its `nprobe` nearest centroids and scores every row of their posting lists as the centroid
  similarity plus its inner product with the row's residual, read from per-query-token tables over
  the codes' byte values (no vector is decoded); its top k' rows are its retrieved tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexers.base import Hit, TokenMatch, validate_queries
from indexers.configs import XTRConfig
from indexers.errors import DocumentNotFound, InvalidConfig
from indexers.kinds.late_interaction import ANN_SAMPLE, ANNTokenIndex
from indexers.scoring.imputation import imputed_similarity, score_retrieved
from indexers.storage.residual import ResidualCodec
from indexers.storage.token_store import Codec, TokenStore

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
        if self.config.vector_codec == "residual":
            return TokenStore(dim, "residual", residual=self._residual_settings(dim))
        return TokenStore(dim, "none")

    def _load_store(self, path: Path, dim: int) -> TokenStore:
        codec: Codec = "residual" if self.config.vector_codec == "residual" else "none"
        return TokenStore.load(path, dim, codec, self.config.pq_m, self._residual_settings(dim))

    def _after_chunk(self, vectors: list[np.ndarray], expected_vectors: int) -> None:
        """Add the chunk's vectors to the ANN, creating (and training) it on the first chunk (residual
        stores have no ANN: the store encoded the chunk)."""
        if self.config.vector_codec == "residual":
            return
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
        store, ann = self.store, self.ann
        assert store is not None
        residual = store.codec == "residual"
        total = store.num_vectors if residual or ann is None else ann.ntotal
        k_prime = self.config.candidate_tokens
        if k_prime > total:
            raise InvalidConfig(
                f"candidate_tokens (k') = {k_prime} exceeds the {total} token vectors in this "
                f"index; use candidate_tokens <= {total} or index more documents"
            )
        if residual:
            sims, rows = self._probe_residuals(store, store.project(query), k_prime)
        elif ann is not None:
            sims, rows = ann.search(query, k_prime)
        else:  # a residual store below residual_min_vectors keeps float16 rows: retrieve exactly
            every = query @ store.vectors(np.arange(store.num_vectors)).T
            rows = np.argpartition(-every, k_prime - 1, axis=1)[:, :k_prime]
            sims = np.take_along_axis(every, rows, axis=1)
        return sims, rows, store.doc_of(rows)

    def _probe_residuals(
        self, store: TokenStore, query: np.ndarray, k_prime: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query token's top-k' rows among those of its `nprobe` nearest centroids' posting lists,
        scored as centroid similarity plus the inner product with the row's residual: similarities
        `(q, k')` and rows `(q, k')`, -1 in slots beyond the rows probed."""
        codec = store.residual_codec
        centroid_sims = query @ codec.centroids.T  # (q, centroids)
        nprobe = min(self.config.nprobe, codec.num_centroids)
        probed = np.argpartition(-centroid_sims, nprobe - 1, axis=1)[:, :nprobe].ravel()
        rows, owner = store.probe(probed)
        token = owner // nprobe
        bounds = np.searchsorted(token, np.arange(len(query) + 1))
        scores = centroid_sims[token, probed[owner]]
        scores += self._residual_sims(codec, query, bounds, np.asarray(store.rows[rows]))
        sims = np.zeros((len(query), k_prime), dtype=np.float32)
        kept = np.full((len(query), k_prime), -1, dtype=np.int64)
        for i in range(len(query)):
            mine = scores[bounds[i] : bounds[i + 1]]
            top = (
                np.argpartition(-mine, k_prime - 1)[:k_prime] if len(mine) > k_prime else np.arange(len(mine))
            )
            sims[i, : len(top)], kept[i, : len(top)] = mine[top], rows[bounds[i] + top]
        return sims, kept

    def _residual_sims(
        self, codec: ResidualCodec, query: np.ndarray, bounds: np.ndarray, codes: np.ndarray
    ) -> np.ndarray:
        """`<query[i], residual of codes[j]>` for the rows `j` in `bounds[i]:bounds[i + 1]` of each
        query token `i`, from the token's table of every code byte's inner product at every byte
        position: one lookup per byte, nothing decoded."""
        table = codec.byte_table  # (width, 256, dims per byte)
        width = table.shape[0]
        lookup = np.einsum("qpd,pbd->qpb", query.reshape(len(query), width, -1), table)  # (q, width, 256)
        columns = np.arange(width, dtype=np.int32) * 256  # int32 offsets into one token's small table
        sims = np.empty(len(codes), dtype=np.float32)
        for i in range(len(query)):
            part = slice(bounds[i], bounds[i + 1])
            sims[part] = np.take(lookup[i].reshape(-1), codes[part] + columns).sum(axis=1)
        return sims

    def _retrieves(self) -> bool:
        """Whether there is something to retrieve tokens from: a residual store or a token ANN."""
        return self.store is not None and (self.config.vector_codec == "residual" or self.ann is not None)

    def _keeps_ann(self) -> bool:
        return self.config.vector_codec == "ann" and super()._keeps_ann()

    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        if not self._retrieves():
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
        if internal is None or self.store is None or not self._retrieves():
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
