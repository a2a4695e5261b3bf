"""Single-vector dense retrieval: one mean-pooled, L2-normalised vector per document in FAISS.

Vectors sit in an `IndexIDMap2` keyed by DocTable internal ids, over `IndexFlatIP` (exact) or
`IndexHNSWFlat` with inner product (approximate). Flat indexes drop replaced and deleted vectors
with `remove_ids`; HNSW cannot, so its stale vectors stay until the next `build` and searches
over-fetch past them (DocTable tombstones filter them out).

A loaded index memory-maps its vectors (`IO_FLAG_MMAP_IFC`); the first `add` or `delete` after a
load takes an owned in-memory copy, so the saved file is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import Doc, Hit, Index, Progress, validate_docs, validate_queries
from indexers.configs import DenseConfig
from indexers.errors import CorruptIndex
from indexers.models.encoders import UsesTokenEncoder
from indexers.storage.doc_table import DocTable
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import faiss_bytes, read_faiss_mapped

__all__ = ["DenseIndex"]

FAISS_FILE = "dense.faiss"


class DenseIndex(UsesTokenEncoder, Index):
    """Dense retrieval with the encoder, ANN structure and HNSW settings of `DenseConfig`.

    Not safe for a mutation running concurrently with searches (single writer).
    """

    kind = "dense"
    config: DenseConfig

    def __init__(self, config: DenseConfig) -> None:
        super().__init__(config)
        self._index: Any = None  # faiss.IndexIDMap2, created on first build or add
        self._mapped = False  # True while the vectors are a read-only view of a saved file

    def memory_bytes(self) -> int:
        """The document table plus the FAISS index (its ids and graph; its vectors only once owned,
        not while memory-mapped)."""
        return super().memory_bytes() + (faiss_bytes(self._index) if self._index is not None else 0)

    # --- writing ---------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Encode `docs` and index them from scratch (dropping every stale vector)."""
        docs = list(docs)
        validate_docs(docs)
        vectors = self._encode([d.full_text for d in docs], is_query=False, progress=progress)
        table = DocTable()
        index = self._new_index()
        index.add_with_ids(vectors, table.assign(docs))
        self._index, self._mapped, self.docs = index, False, table

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Encode and add `docs`; an existing id's old vector is removed (flat) or tombstoned (HNSW)."""
        validate_docs(docs)
        if not docs:
            return
        vectors = self._encode([d.full_text for d in docs], is_query=False, progress=progress)
        index = self._writable()
        replaced = [self.docs.by_ext[d.id] for d in docs if d.id in self.docs.by_ext]
        ids = self.docs.assign(docs)
        self._remove(index, replaced)
        index.add_with_ids(vectors, ids)

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Tombstone `doc_ids` (unknown ids are ignored) and drop their vectors where FAISS can."""
        removed = self.docs.delete(doc_ids)
        if removed and self._index is not None:
            self._remove(self._writable(), removed)

    def _remove(self, index: Any, internal_ids: list[int]) -> None:
        if internal_ids and self.config.ann == "flat":  # HNSW has no remove_ids: tombstones only
            index.remove_ids(np.asarray(internal_ids, dtype=np.int64))

    # --- searching -------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Top-k documents by cosine similarity per query, best first.

        Raises:
            InvalidInput: a query is empty or longer than the encoder's `query_max_length`, or `k` < 1.
        """
        validate_queries(queries, k)
        if self._index is None or self.num_docs == 0 or not queries:
            return [[] for _ in queries]
        return self._search_vectors(self._encode(list(queries), is_query=True), k)

    def _search_vectors(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-k live hits by inner product for `(n, dim)` query vectors (the index is not empty)."""
        total = int(self._index.ntotal)
        fetch = min(k + total - self.num_docs, total)  # room for stale vectors still in FAISS
        params = None
        if self.config.ann == "hnsw":
            params = load_faiss().SearchParametersHNSW(efSearch=max(self.config.ef_search, fetch))
        scores, ids = self._index.search(vectors, fetch, params=params)
        return [self.docs.top_hits(ids[row], scores[row], k) for row in range(len(vectors))]

    # --- helpers ---------------------------------------------------------------------------

    def _encode(self, texts: list[str], *, is_query: bool, progress: Progress | None = None) -> np.ndarray:
        """`(n, dim)` float32 vectors; checks the dimension against a loaded index."""
        dim = self._dim()
        if self._index is not None and self._index.d != dim:
            raise CorruptIndex(
                f"the saved vectors have dimension {self._index.d} but encoder "
                f"{self.config.encoder.model!r} produces {dim}"
            )
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        vectors = self._embed(texts, is_query=is_query, progress=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _dim(self) -> int:
        """Dimension of the stored vectors."""
        return self.encoder.dim

    def _embed(self, texts: list[str], *, is_query: bool, progress: Progress | None) -> np.ndarray:
        """`(n, dim)` vectors of non-empty `texts` (overridden by kinds with other embeddings)."""
        return self.encoder.encode_dense(texts, is_query=is_query, progress=progress)

    def _new_index(self) -> Any:
        faiss = load_faiss()
        dim = self._dim()
        if self.config.ann == "hnsw":
            base = faiss.IndexHNSWFlat(dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        else:
            base = faiss.IndexFlatIP(dim)
        return faiss.IndexIDMap2(base)

    def _writable(self) -> Any:
        """The FAISS index, as an owned in-memory copy if it was memory-mapped from a file
        (mutating a mapped view aborts the process)."""
        if self._index is None:
            self._index = self._new_index()
        elif self._mapped:
            faiss = load_faiss()
            self._index = faiss.deserialize_index(faiss.serialize_index(self._index))
            self._mapped = False
        return self._index

    # --- files -----------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        index = self._index if self._index is not None else self._new_index()
        load_faiss().write_index(index, str(path / FAISS_FILE))

    @classmethod
    def _load_payload(cls, path: Path, config: DenseConfig) -> Self:  # type: ignore[override]
        faiss = load_faiss()
        file = path / FAISS_FILE
        if not file.is_file():
            raise CorruptIndex(f"{path}: missing {FAISS_FILE}")
        loaded = cls(config)
        try:
            loaded._index, loaded._mapped = read_faiss_mapped(file), True
        except RuntimeError:  # no memory map here (or a damaged file): read it into memory
            try:
                loaded._index = faiss.read_index(str(file))
            except RuntimeError as exc:
                raise CorruptIndex(f"{path}: unreadable {FAISS_FILE}: {exc}") from exc
        if not isinstance(loaded._index, faiss.IndexIDMap2):
            raise CorruptIndex(
                f"{path}: {FAISS_FILE} holds {type(loaded._index).__name__}, expected IndexIDMap2"
            )
        return loaded
