"""LENS: lexicon-based embeddings over clusters of the vocabulary.

The MLM model's input token embeddings are clustered with spherical k-means (FAISS) into
`n_clusters` groups of similar tokens; each embedding dimension stands for one cluster. A text's
embedding: for each token, its MLM logits aggregated per cluster (`max` or `logsumexp` over the
cluster's vocabulary ids), log-saturated (`log(1 + relu(.))`), max-pooled over the text's tokens,
then L2-normalised. The clustering is computed once per build (cached per process) and saved with
the index, so a loaded index keeps the dimensions it was built with.

Storage, two forms of the same vectors:
- FAISS inner product (exact flat or HNSW; the `DenseIndex` machinery), the source of truth;
- sparsified (`sparse_top_k` largest entries per document) in Qdrant sparse vectors, local mode,
  written into the version folder (`qdrant/`) when the index is saved, then closed. `backend="qdrant"`
  answers searches from it: a loaded index opens that folder on its first search (Qdrant local mode
  locks it to one process: the process that serves searches, not the worker that wrote it); an index
  changed since it was loaded or built searches an in-memory Qdrant collection rebuilt from FAISS.

Fusion with a dense encoder (`dense`, e.g. MiniLM): the stored vector is the LENS vector
concatenated with `sqrt(dense_weight)` times the dense unit vector, so one inner product scores
`cos(LENS) + dense_weight * cos(dense)`.

Empty lexicon vectors (a text of stop words or symbols can activate nothing): such a document is
kept but scores 0 on the LENS part; such a query returns no hits.
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import Doc, Hit, Progress, TermWeight, validate_queries
from indexers.configs import LensConfig
from indexers.errors import CorruptIndex, DocumentNotFound, InvalidConfig, UnsupportedOperation
from indexers.kinds.dense import DenseIndex
from indexers.models.encoders import TokenEncoder, UsesVocabEncoder, load_token_encoder
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import array_bytes
from indexers.storage.sparse_store import top_k_rows

__all__ = ["LensIndex", "cluster_vocabulary"]

META_FILE = "lens.json"
CLUSTERS_FILE = "lens_clusters.npy"
LABELS_FILE = "lens_labels.npy"
QDRANT_DIR = "qdrant"
COLLECTION = "lens"
VECTOR = "lens"
LABEL_TOKENS = 3
UPSERT_BATCH = 512
DENSE_TERM = "[dense]"


def cluster_vocabulary(
    embeddings: np.ndarray, n_clusters: int, iterations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means over token embeddings.

    Args:
        embeddings: `(vocab_size, hidden)` input token embeddings.
        n_clusters: number of clusters.
        iterations: k-means iterations.
        seed: k-means seed.

    Returns:
        `(vocab_size,)` int64 cluster of each vocabulary id, and `(n_clusters, 3)` int64 labels: the
        cluster's members closest to its centroid (-1 where a cluster has fewer members).

    Raises:
        InvalidConfig: more clusters than vocabulary entries.
    """
    vocab_size = len(embeddings)
    if n_clusters > vocab_size:
        raise InvalidConfig(
            f"n_clusters={n_clusters} is larger than the model's vocabulary ({vocab_size} tokens)"
        )
    faiss = load_faiss()
    # a copy: the embeddings may share memory with the model's weights, which must stay untouched
    x = np.array(embeddings, dtype=np.float32, order="C", copy=True)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    kmeans = faiss.Kmeans(
        x.shape[1], n_clusters, niter=iterations, seed=seed, spherical=True,
        max_points_per_centroid=max(1, math.ceil(vocab_size / n_clusters)) * 4, verbose=False,
    )  # fmt: skip
    kmeans.train(x)
    sims, assigned = kmeans.index.search(x, 1)
    clusters = assigned[:, 0].astype(np.int64)
    order = np.lexsort((-sims[:, 0], clusters))  # by cluster, then closest first
    starts = np.searchsorted(clusters[order], np.arange(n_clusters))
    ends = np.searchsorted(clusters[order], np.arange(n_clusters), side="right")
    labels = np.full((n_clusters, LABEL_TOKENS), -1, dtype=np.int64)
    for rank in range(LABEL_TOKENS):
        has = starts + rank < ends
        labels[has, rank] = order[starts[has] + rank]
    return clusters, labels


_CLUSTERINGS: dict[tuple[str, str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
"""Vocabulary clusterings computed in this process, by (model, vocabulary, clusters, iterations, seed)."""


class LensIndex(UsesVocabEncoder, DenseIndex):  # type: ignore[misc]  # its encoder is the MLM's
    """LENS with the cluster count, aggregation, backend and optional dense fusion of `LensConfig`.

    Not safe for a mutation running concurrently with searches (single writer).
    """

    kind = "lens"
    config: LensConfig  # type: ignore[assignment]

    def __init__(self, config: LensConfig) -> None:
        super().__init__(config)  # type: ignore[arg-type]
        self.clusters: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self._dense_encoder: TokenEncoder | None = None
        self._qdrant: Any = None  # QdrantClient, opened on the first qdrant search
        self._close_qdrant: Callable[[], Any] | None = None  # a weakref.finalize
        self._qdrant_path: Path | None = None  # saved collection this instance may open
        self._qdrant_lock = threading.Lock()

    def memory_bytes(self) -> int:
        """The dense machinery's bytes plus the vocabulary clustering (an open Qdrant collection,
        which Qdrant manages, is not counted)."""
        return super().memory_bytes() + array_bytes(self.clusters, self.labels)

    # --- embedding -----------------------------------------------------------------------------

    @property
    def dense_encoder(self) -> TokenEncoder | None:
        """The dense encoder fused with LENS, if any (loaded on first use)."""
        if self.config.dense is not None and self._dense_encoder is None:
            self._dense_encoder = load_token_encoder(self.config.dense)
        return self._dense_encoder

    def _clusters(self) -> np.ndarray:
        """The vocabulary clustering: saved with the index, else computed (once per process)."""
        if self.clusters is None:
            cfg, encoder = self.config, self.encoder
            key = (cfg.encoder.model, encoder.fingerprint, cfg.n_clusters, cfg.kmeans_iterations, cfg.seed)
            if key not in _CLUSTERINGS:
                _CLUSTERINGS[key] = cluster_vocabulary(
                    encoder.input_embeddings(), cfg.n_clusters, cfg.kmeans_iterations, cfg.seed
                )
            self.clusters, self.labels = _CLUSTERINGS[key]
        return self.clusters

    def _dim(self) -> int:
        dense = self.dense_encoder
        return self.config.n_clusters + (dense.dim if dense is not None else 0)

    def _embed(self, texts: list[str], *, is_query: bool, progress: Progress | None) -> np.ndarray:
        lexical = self.encoder.encode_clusters(
            texts,
            is_query=is_query,
            clusters=self._clusters(),
            n_clusters=self.config.n_clusters,
            aggregate=self.config.aggregate,
            progress=progress,
        )
        lexical /= np.maximum(np.linalg.norm(lexical, axis=1, keepdims=True), 1e-12)
        dense = self.dense_encoder
        if dense is None:
            return lexical
        fused = dense.encode_dense(texts, is_query=is_query) * math.sqrt(self.config.dense_weight)
        return np.concatenate([lexical, fused], axis=1)

    # --- writing -------------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        super().build(docs, progress)
        self._drop_qdrant()

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        super().add(docs, progress)
        self._drop_qdrant()

    def delete(self, doc_ids: Sequence[str]) -> None:
        super().delete(doc_ids)
        self._drop_qdrant()

    # --- searching -----------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Top-k documents per query by LENS (+ dense) inner product, best first; a query whose
        lexicon vector is empty gets no hits.

        Raises:
            InvalidInput: a query is empty or longer than the encoder's `query_max_length`, or `k` < 1.
            UnsupportedOperation: `backend="qdrant"` and another process holds the saved Qdrant folder.
        """
        validate_queries(queries, k)
        if self._index is None or self.num_docs == 0 or not queries:
            return [[] for _ in queries]
        vectors = self._encode(list(queries), is_query=True)
        empty: list[bool] = np.logical_not(vectors[:, : self.config.n_clusters].any(axis=1)).tolist()
        if self.config.backend == "qdrant":
            hits = [self._search_qdrant(v[: self.config.n_clusters], k) for v in vectors]
        else:
            hits = self._search_vectors(vectors, k)
        return [[] if nothing else found for nothing, found in zip(empty, hits, strict=True)]

    def _search_qdrant(self, vector: np.ndarray, k: int) -> list[Hit]:
        from qdrant_client import models

        sparse = top_k_rows(vector[None, :], self.config.sparse_top_k)
        fetch = k + self.docs.size - len(self.docs)
        points = (
            self._qdrant_client()
            .query_points(
                COLLECTION,
                query=models.SparseVector(indices=sparse.indices.tolist(), values=sparse.data.tolist()),
                using=VECTOR,
                limit=fetch,
                with_payload=False,
            )
            .points
        )
        ids = np.fromiter((int(p.id) for p in points), dtype=np.int64, count=len(points))
        scores = np.fromiter((p.score for p in points), dtype=np.float64, count=len(points))
        return self.docs.top_hits(ids, scores, k)

    # --- explaining ----------------------------------------------------------------------------

    def explain_terms(self, query: str, doc_id: str, limit: int = 10) -> list[TermWeight]:
        """Clusters by their share of the score, each named by up to three member tokens closest to
        its centroid (`a/b/c`); with dense fusion, the dense part appears as the term `[dense]`."""
        validate_queries([query], 1)
        internal = self.docs.by_ext.get(doc_id)
        if internal is None or self._index is None:
            raise DocumentNotFound(f"document {doc_id!r} is not in this index")
        query_vector = self._encode([query], is_query=True)[0]
        doc_vector = self._index.reconstruct(internal)
        contributions = query_vector * doc_vector
        n = self.config.n_clusters
        lexical = contributions[:n]
        top = [int(c) for c in np.argsort(-lexical)[:limit] if lexical[c] > 0]
        terms = [TermWeight(term=self._cluster_label(c), score=float(lexical[c])) for c in top]
        if self.config.dense is not None:
            terms.append(TermWeight(term=DENSE_TERM, score=float(contributions[n:].sum())))
            terms = sorted(terms, key=lambda t: -t.score)[:limit]
        return terms

    def _cluster_label(self, cluster: int) -> str:
        members = [int(t) for t in self.labels[cluster] if t >= 0]  # type: ignore[index]
        return "/".join(self.encoder.decode_tokens(members))

    # --- Qdrant --------------------------------------------------------------------------------

    def _sparse_rows(self) -> tuple[np.ndarray, Any]:
        """Live internal ids and their sparsified LENS vectors (CSR), read back from FAISS."""
        live = np.flatnonzero(self.docs.alive())
        if self._index is None or len(live) == 0:
            return live, None
        vectors = self._index.reconstruct_batch(live)[:, : self.config.n_clusters]
        return live, top_k_rows(vectors, self.config.sparse_top_k)

    def _write_qdrant(self, client: Any) -> None:
        from qdrant_client import models

        client.create_collection(
            COLLECTION, vectors_config={}, sparse_vectors_config={VECTOR: models.SparseVectorParams()}
        )
        live, rows = self._sparse_rows()
        for start in range(0, len(live), UPSERT_BATCH):
            points = []
            for row in range(start, min(start + UPSERT_BATCH, len(live))):
                entries = slice(rows.indptr[row], rows.indptr[row + 1])
                vector = models.SparseVector(
                    indices=rows.indices[entries].tolist(), values=rows.data[entries].tolist()
                )
                points.append(models.PointStruct(id=int(live[row]), vector={VECTOR: vector}))
            client.upsert(COLLECTION, points=points, wait=True)

    def _qdrant_client(self) -> Any:

        with self._qdrant_lock:
            if self._qdrant is None:
                self._qdrant = self._open_qdrant()
                self._close_qdrant = weakref.finalize(self, self._qdrant.close)
            return self._qdrant

    def _open_qdrant(self) -> Any:
        """The saved collection if this instance may serve it, else an in-memory one built from FAISS."""
        from qdrant_client import QdrantClient

        if self._qdrant_path is not None:
            try:
                return QdrantClient(path=str(self._qdrant_path))
            except RuntimeError as exc:  # local mode: the folder is locked by another process
                raise UnsupportedOperation(
                    f"the LENS Qdrant folder {self._qdrant_path} is open in another process (Qdrant "
                    "local mode serves one process); search it from that process or use backend faiss"
                ) from exc
        client = QdrantClient(location=":memory:")
        self._write_qdrant(client)
        return client

    def _drop_qdrant(self) -> None:
        """Forget the Qdrant collection: it no longer matches the vectors (rebuilt on demand)."""
        with self._qdrant_lock:
            if self._close_qdrant is not None:
                self._close_qdrant()
            self._qdrant = self._close_qdrant = self._qdrant_path = None

    # --- files ---------------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        from qdrant_client import QdrantClient

        super()._save_payload(path)
        meta = {"vocab": self.vocab_fingerprint, "clustered": self.clusters is not None}
        (path / META_FILE).write_text(json.dumps(meta))
        if self.clusters is not None and self.labels is not None:
            np.save(path / CLUSTERS_FILE, self.clusters)
            np.save(path / LABELS_FILE, self.labels)
        client = QdrantClient(path=str(path / QDRANT_DIR))
        try:
            self._write_qdrant(client)
        finally:
            client.close()

    @classmethod
    def _load_payload(cls, path: Path, config: LensConfig) -> Self:  # type: ignore[override]
        index = super()._load_payload(path, config)  # type: ignore[arg-type]
        try:
            meta = json.loads((path / META_FILE).read_text())
            index.vocab_fingerprint = meta["vocab"]
            if meta["clustered"]:
                index.clusters = np.load(path / CLUSTERS_FILE)
                index.labels = np.load(path / LABELS_FILE)
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndex(f"{path}: unreadable LENS files: {exc}") from exc
        if not (path / QDRANT_DIR).is_dir():
            raise CorruptIndex(f"{path}: missing {QDRANT_DIR}/")
        index._qdrant_path = path / QDRANT_DIR
        return index
