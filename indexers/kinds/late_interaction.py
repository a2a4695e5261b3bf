"""Shared machinery of the late-interaction kinds: encode documents into token vectors, keep them in
a TokenStore keyed by DocTable internal ids, explain scores token by token."""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import (
    Doc,
    Hit,
    Index,
    Progress,
    TokenHeat,
    TokenMatch,
    validate_docs,
    validate_queries,
)
from indexers.errors import CorruptIndex, DocumentNotFound
from indexers.models.encoders import TokenEmbeddings, UsesTokenEncoder
from indexers.scoring.blas import one_blas_thread
from indexers.scoring.maxsim import maxsim_matches
from indexers.scoring.pooling import pool_documents, pool_tokens
from indexers.storage.residual import auto_pq_m
from indexers.storage.token_ann import TokenANN
from indexers.storage.token_store import ResidualSettings, TokenStore

__all__ = ["ANN_SAMPLE", "ANNTokenIndex", "TokenIndex"]

INGEST_CHUNK = 2048
FIT_HOLD_VECTORS = 2**21
"""Most float16 vectors an ingest holds so that a residual codec is fitted on the whole ingest."""
ANN_SAMPLE = 262_144
"""Most vectors an ANN is trained on."""
META_FILE = "token_index.json"
QUERY_CACHE = 64
"""Queries whose token vectors explanations remember (one search explains each of its hits)."""


class TokenIndex(UsesTokenEncoder, Index):
    """Base of kinds that store per-token document vectors (exact MaxSim, pooled ColBERT, ...).

    Subclasses choose the pool factor and codec, and implement `_after_ingest` (e.g. feed an ANN)
    and `_search_one`.
    """

    pool_factor: int = 1

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.store: TokenStore | None = None
        self._queries: OrderedDict[str, TokenEmbeddings] = OrderedDict()
        self._queries_lock = threading.Lock()

    @property
    def num_vectors(self) -> int:
        """Stored token vectors (tombstoned documents included until the next build)."""
        return self.store.num_vectors if self.store is not None else 0

    def memory_bytes(self) -> int:
        """The document table, the token store's in-memory arrays and the cached query vectors."""
        with self._queries_lock:
            queries = sum(e.vectors.nbytes + e.token_ids.nbytes for e in self._queries.values())
        store = self.store.memory_bytes() if self.store is not None else 0
        return super().memory_bytes() + store + queries

    def _new_store(self, dim: int) -> TokenStore:
        return TokenStore(dim)

    # --- writing -------------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Build into a fresh instance, then take over its state: a failed build leaves this one intact."""
        batch = list(docs)
        validate_docs(batch)
        fresh = type(self)(self.config)
        fresh._encoder = self._encoder
        fresh._ingest(batch, progress)
        self.__dict__.update(fresh.__dict__)

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        batch = list(docs)
        validate_docs(batch)
        self._ingest(batch, progress)

    def _ingest(self, docs: list[Doc], progress: Progress | None) -> None:
        """Encode and pool in chunks, append to the store, then let the subclass index the new rows."""
        first_row = self.num_vectors
        for start in range(0, len(docs), INGEST_CHUNK):
            chunk = docs[start : start + INGEST_CHUNK]

            def chunk_progress(done: int, _total: int, offset: int = start) -> None:
                if progress is not None:
                    progress(offset + done, len(docs))

            encoded = self.encoder.encode(
                [d.full_text for d in chunk], is_query=False, progress=chunk_progress
            )
            pooled = pool_documents([e.vectors for e in encoded], self.pool_factor)
            if self.store is None:
                self.store = self._new_store(self.encoder.dim)
            vectors = [p.vectors for p in pooled]
            if start == 0:  # fit a pending residual codec on the whole ingest, not its first chunk
                expected = sum(len(v) for v in vectors) * len(docs) // len(chunk)
                self.store.hold_vectors = min(self.store.num_vectors + expected, FIT_HOLD_VECTORS)
                self.store.planned_vectors = self.store.num_vectors + expected
            self.store.append(
                vectors, [e.token_ids[p.representatives] for e, p in zip(encoded, pooled, strict=True)]
            )
            self.docs.assign(chunk)
            self._after_chunk(vectors, sum(len(v) for v in vectors) * len(docs) // len(chunk))
        if self.store is not None and self.store.num_slots != self.docs.size:
            raise CorruptIndex("token store and document table are out of step")
        if self.store is not None:
            self.store.settle()
            self.store.planned_vectors = 0
        self._after_ingest(first_row)

    def _after_chunk(self, vectors: list[np.ndarray], expected_vectors: int) -> None:
        """Hook: index one chunk's vectors (one `(n_i, dim)` array per document), just appended to
        the store; `expected_vectors` estimates the vectors of the whole ingest (for sizing)."""

    def _after_ingest(self, first_row: int) -> None:
        """Hook: index store rows from `first_row` on (the rows just added)."""

    @property
    def num_segments(self) -> int:
        """Segments of the token store (each add saved since the last compaction makes one)."""
        return len(self.store.segments) if self.store is not None else 0

    @property
    def refit_due(self) -> bool:
        """Whether the store's residual codec is due a refit (`TokenStore.refit_due`; `compact` does it)."""
        return self.store is not None and self.store.refit_due

    def compact(self) -> None:
        """Rewrite the token store as one segment of the live documents: tombstoned documents are
        dropped and internal ids renumbered (document table and ANN alike). Stored codes are copied,
        nothing is encoded again, unless the residual codec is due a refit (`refit_due`): then the
        store is re-encoded with a codec fitted on its decoded vectors. The index changes only once
        the new state is complete."""
        if self.store is None:
            return
        live = np.flatnonzero(self.docs.alive())
        fresh = type(self)(self.config)
        fresh._encoder = self._encoder
        fresh.docs = self.docs.select(live.tolist())
        fresh.store = self.store.select(live)
        if fresh.store.refit_due:
            fresh.store.refit()
        self._compact_into(fresh, self.store.rows_of(live))
        self.__dict__.update(fresh.__dict__)

    def _compact_into(self, fresh: Self, rows: np.ndarray) -> None:
        """Hook: give the compacted `fresh` index what this one keeps beside the store, for the kept
        store `rows` (increasing; they become rows 0, 1, ...)."""

    # --- reading -------------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        validate_queries(queries, k)
        if self.store is None or self.num_docs == 0:
            return [[] for _ in queries]
        return self.search_encoded(self.encoder.encode(list(queries), is_query=True), k)

    def search_encoded(self, queries: Sequence[TokenEmbeddings], k: int = 10) -> list[list[Hit]]:
        """Top-k hits for queries already encoded by this index's encoder (`is_query=True`)."""
        if self.store is None or self.num_docs == 0:
            return [[] for _ in queries]
        with one_blas_thread():
            return [self._search_one(e.vectors, k) for e in queries]

    @abstractmethod
    def _search_one(self, query: np.ndarray, k: int) -> list[Hit]:
        """Top-k hits for one query's token vectors `(q, dim)`."""

    def _query_tokens(self, query: str) -> TokenEmbeddings:
        """The query's token vectors, encoded once for the last QUERY_CACHE queries."""
        with self._queries_lock:
            cached = self._queries.get(query)
            if cached is not None:
                self._queries.move_to_end(query)
                return cached
        encoded = self.encoder.encode([query], is_query=True)[0]
        with self._queries_lock:
            self._queries[query] = encoded
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return encoded

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """Which stored document token each query token matched, and the similarity."""
        validate_queries([query], 1)
        internal = self.docs.by_ext.get(doc_id)
        if internal is None or self.store is None:
            raise DocumentNotFound(f"document {doc_id!r} is not in this index")
        encoded = self._query_tokens(query)
        rows = self.store.doc_rows(internal)
        best, sims = maxsim_matches(self.store.project(encoded.vectors), self.store.doc_vectors(internal))
        query_tokens = self.encoder.decode_tokens(encoded.token_ids)
        doc_tokens = self.encoder.decode_tokens(self.store.token_ids[rows][best])
        return [
            TokenMatch(query_token=q, doc_token=d, score=float(s))
            for q, d, s in zip(query_tokens, doc_tokens, sims, strict=True)
        ]

    def highlight(self, query: str, text: str) -> list[TokenHeat]:
        """Every token of `text` with its similarity as this index sees it: the document is encoded
        and pooled as at ingest, and each token gets the similarity of the vector it was pooled into."""
        validate_queries([query], 1)
        encoded = self._query_tokens(query)
        doc, spans = self.encoder.encode_with_spans(text)
        if len(encoded.vectors) == 0 or len(doc.vectors) == 0:
            return []
        pooled = pool_tokens(doc.vectors, self.pool_factor)
        sims = encoded.vectors @ pooled.vectors.T  # (q, pooled vectors)
        matched = np.zeros(len(pooled.vectors), dtype=bool)
        matched[sims.argmax(axis=1)] = True
        best_query = sims.argmax(axis=0)
        query_tokens = self.encoder.decode_tokens(encoded.token_ids)
        return [
            TokenHeat(
                start=int(start),
                end=int(end),
                score=float(sims[best_query[vector], vector]),
                query_token=query_tokens[best_query[vector]],
                matched=bool(matched[vector]),
            )
            for (start, end), vector in zip(spans, pooled.assignment, strict=True)
        ]

    # --- persistence ---------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        meta = {"dim": self.store.dim if self.store is not None else None}
        (path / META_FILE).write_text(json.dumps(meta))
        if self.store is not None:
            self.store.save(path)

    @classmethod
    def _load_payload(cls, path: Path, config: Any) -> Self:
        index = cls(config)
        try:
            dim = json.loads((path / META_FILE).read_text())["dim"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndex(f"{path}: unreadable {META_FILE}: {exc}") from exc
        if dim is not None:
            index.store = index._load_store(path, int(dim))
        return index

    def _load_store(self, path: Path, dim: int) -> TokenStore:
        return TokenStore.load(path, dim, "float16", 48)


class ANNTokenIndex(TokenIndex):
    """A TokenIndex whose vectors are also in a FAISS token ANN (`self.ann`, same row numbers).

    The config carries the ANN settings: `ann`, `nlist`, `nprobe`, `hnsw_m`, `ef_search`,
    `use_gpu` (and `pq_m` for `ann="ivf_pq"`), and the residual codec's settings for
    `vector_codec="residual"` (`residual_bits`, `num_centroids`, `reduce_dim`, `residual_pq_m`,
    `residual_min_vectors`, `residual_refit_growth`, `residual_assign_groups`).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.ann: TokenANN | None = None

    def _residual_settings(self, dim: int) -> ResidualSettings:
        """The config's residual codec settings for `dim`-dimensional vectors (`residual_pq_m="auto"`
        resolved for the coded dimension)."""
        cfg = self.config
        pq_m = cfg.residual_pq_m
        if pq_m == "auto":
            pq_m = auto_pq_m(min(cfg.reduce_dim or dim, dim))
        return ResidualSettings(
            cfg.residual_bits,
            cfg.num_centroids,
            cfg.reduce_dim,
            pq_m or None,
            cfg.residual_min_vectors,
            cfg.residual_refit_growth,
            cfg.residual_assign_groups,
        )

    def _new_ann(self, sample: np.ndarray, n_total: int) -> TokenANN:
        """An empty ANN trained on `sample` `(n, dim)`, sized for `n_total` vectors."""
        cfg = self.config
        return TokenANN.create(
            sample,
            n_total,
            cfg.ann,
            nlist=cfg.nlist,
            nprobe=cfg.nprobe,
            hnsw_m=cfg.hnsw_m,
            ef_search=cfg.ef_search,
            use_gpu=cfg.use_gpu,
            pq_m=cfg.pq_m,
        )

    def memory_bytes(self) -> int:
        """The token index's bytes plus the ANN's (memory-mapped codes excluded)."""
        return super().memory_bytes() + (self.ann.memory_bytes() if self.ann is not None else 0)

    def _keeps_ann(self) -> bool:
        """Whether a loaded index has a token ANN to open (residual stores generate candidates alone)."""
        return self.store is not None and self.store.codec != "residual"

    def _compact_into(self, fresh: Self, rows: np.ndarray) -> None:
        if self.ann is not None:
            fresh.ann = self.ann.select(rows)

    def _save_payload(self, path: Path) -> None:
        super()._save_payload(path)
        if self.ann is not None:
            self.ann.save(path)

    @classmethod
    def _load_payload(cls, path: Path, config: Any) -> Self:
        index = super()._load_payload(path, config)
        if index.store is not None and index._keeps_ann():
            cfg = index.config
            index.ann = TokenANN.load(path, nprobe=cfg.nprobe, ef_search=cfg.ef_search, use_gpu=cfg.use_gpu)
            if index.ann.ntotal != index.store.num_vectors:
                raise CorruptIndex(
                    f"{path}: ANN holds {index.ann.ntotal} vectors, store {index.store.num_vectors}"
                )
        return index
