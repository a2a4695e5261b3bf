"""SLIM: sparsified late interaction over vocabulary-space token vectors.

Each contextualised token goes through the MLM head; its logits are log-saturated
(`log(1 + relu(.))`) and cut to the `token_top_k` largest entries: one sparse vector per token,
stored as CSR arrays (`SparseStore`, memory-mapped on load). Tokens whose vector is empty are not
stored.

Search, two stages:
1. first stage: a real Lucene impact index (pyserini). A document's postings are its token vectors
   max-pooled over its tokens, quantised to integers `round(weight * impact_scale)`; the query is
   max-pooled and quantised the same way, so Lucene scores `sum_t q_t * d_t` exactly in integers
   (pyserini casts query weights to int, so the quantisation is ours);
2. refinement (`refine=True`): the `candidates` best documents are re-scored with sparse late
   interaction, `sum_i max_j <q_i, d_j>` over query tokens `q_i` and document tokens `d_j`.

Empty sparse vectors (a text of stop words or symbols can map to nothing): such a document is kept
(it counts, can be deleted and replaced) but has no postings, so it is never retrieved; such a query
returns no hits. Scores are in the model's units (first-stage scores divided by `impact_scale**2`).

The saved index records the vocabulary's fingerprint; opening it with a model whose vocabulary
differs raises InvalidConfig on first use.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from indexers.base import (
    Doc,
    Hit,
    Index,
    Progress,
    TermWeight,
    TokenMatch,
    validate_docs,
    validate_queries,
)
from indexers.configs import SlimConfig
from indexers.errors import CorruptIndex, DocumentNotFound
from indexers.models.encoders import UsesVocabEncoder, VocabTokens
from indexers.scoring.maxsim import sparse_maxsim
from indexers.storage.doc_table import DocTable
from indexers.storage.lucene_files import LuceneFiles
from indexers.storage.lucene_jvm import import_pyserini
from indexers.storage.sparse_store import SparseStore, csr_from_top_k

__all__ = ["SlimIndex", "quantise"]

LUCENE_DIR = "lucene"
META_FILE = "slim.json"
STORE_PREFIX = "slim"
INGEST_CHUNK = 2048
LUCENE_BATCH = 500


def quantise(vector: sp.csr_matrix, scale: float) -> dict[str, int]:
    """Integer impacts `{vocabulary id: round(weight * scale)}` of a `(1, V)` vector, zeros dropped.

    >>> quantise(sp.csr_matrix(np.array([[0.0, 0.004, 1.234]])), 100.0)
    {'2': 123}
    """
    impacts = np.rint(vector.data * scale).astype(np.int64)
    return {str(int(t)): int(w) for t, w in zip(vector.indices, impacts, strict=True) if w > 0}


def _impact_searcher(folder: str) -> Any:
    return import_pyserini("pyserini.pyclass").autoclass("io.anserini.search.SimpleImpactSearcher")(folder)


class SlimIndex(UsesVocabEncoder, Index):
    """SLIM with the encoder, per-token top-k, impact scale and refinement depth of `SlimConfig`.

    Not safe for a mutation running concurrently with searches (single writer, like the other kinds).
    """

    kind = "slim"
    config: SlimConfig

    def __init__(self, config: SlimConfig) -> None:
        super().__init__(config)
        self.store: SparseStore | None = None
        self.lucene = LuceneFiles("tessera-slim-", _impact_searcher)

    @property
    def num_vectors(self) -> int:
        """Stored (non-empty) sparse token vectors, tombstoned documents included until the next build."""
        return self.store.num_rows if self.store is not None else 0

    def memory_bytes(self) -> int:
        """The document table plus the sparse store's in-memory arrays (the Lucene index is on disk)."""
        return super().memory_bytes() + (self.store.memory_bytes() if self.store is not None else 0)

    # --- writing -------------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Build into a fresh instance, then take over its state: a failed build leaves this one intact."""
        batch = list(docs)
        validate_docs(batch)
        fresh = type(self)(self.config)  # a new vocabulary fingerprint: a rebuild may change the model
        fresh._ingest(batch, progress)
        self.lucene.clear()
        self.__dict__.update(fresh.__dict__)

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Encode and add `docs`; an existing id is tombstoned and indexed anew."""
        batch = list(docs)
        validate_docs(batch)
        if batch:
            self._ingest(batch, progress)

    def _ingest(self, docs: list[Doc], progress: Progress | None) -> None:
        """Encode in chunks, append token vectors to the store and document impacts to Lucene."""
        encoder = self.encoder
        if self.store is None:
            self.store = SparseStore(encoder.vocab_size)
        append = self.lucene.path is not None
        writer = _impact_writer(self.lucene.writable(), append, self.config.threads)
        try:
            for start in range(0, len(docs), INGEST_CHUNK):
                chunk = docs[start : start + INGEST_CHUNK]

                def chunk_progress(done: int, _total: int, offset: int = start) -> None:
                    if progress is not None:
                        progress(offset + done, len(docs))

                encoded = encoder.encode(
                    [d.full_text for d in chunk],
                    is_query=False,
                    top_k=self.config.token_top_k,
                    progress=chunk_progress,
                )
                rows = [self._token_rows(e) for e in encoded]
                kept = [(m.getnnz(axis=1) > 0) for m in rows]
                self.store.append(
                    [m[keep] for m, keep in zip(rows, kept, strict=True)],
                    [e.token_ids[keep] for e, keep in zip(encoded, kept, strict=True)],
                )
                ids = self.docs.assign(chunk)
                pseudo_docs = [
                    {"id": str(int(internal)), "contents": _pseudo_document(self._impacts(m))}
                    for internal, m in zip(ids, rows, strict=True)
                ]
                nonempty = [d for d in pseudo_docs if d["contents"]]
                for at in range(0, len(nonempty), LUCENE_BATCH):
                    writer.add_batch_dict(nonempty[at : at + LUCENE_BATCH])
        finally:
            writer.close()
        if self.store.num_slots != self.docs.size:
            raise CorruptIndex("sparse store and document table are out of step")

    def _token_rows(self, encoded: VocabTokens) -> sp.csr_matrix:
        return csr_from_top_k(encoded.indices, encoded.values, self.encoder.vocab_size)

    def _impacts(self, token_rows: sp.csr_matrix) -> dict[str, int]:
        """Quantised max-pool of a text's token vectors (its first-stage vector)."""
        if token_rows.shape[0] == 0:
            return {}
        return quantise(token_rows.max(axis=0).tocsr(), self.config.impact_scale)

    # --- searching -----------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Top-k hits per query: Lucene impact search, then (if `refine`) sparse late interaction.

        Raises:
            InvalidInput: a query is empty or longer than the encoder's `query_max_length`, or `k` < 1.
        """
        validate_queries(queries, k)
        if self.store is None or self.lucene.path is None or self.num_docs == 0 or not queries:
            return [[] for _ in queries]
        encoded = self.encoder.encode(list(queries), is_query=True, top_k=self.config.token_top_k)
        depth = max(k, self.config.candidates) if self.config.refine else k
        fetch = depth + self.docs.size - len(self.docs)  # room for tombstoned Lucene documents
        return [self._search_one(self._token_rows(e), k, fetch, depth) for e in encoded]

    def _search_one(self, query: sp.csr_matrix, k: int, fetch: int, depth: int) -> list[Hit]:
        impacts = self._impacts(query)
        if not impacts:
            return []
        internal, scores = self._first_stage(impacts, fetch)
        live = self.docs.alive()[internal]
        internal, scores = internal[live][:depth], scores[live][:depth]
        if not self.config.refine or len(internal) == 0:
            return self.docs.top_hits(internal, scores / self.config.impact_scale**2, k)
        rows, offsets = self.store.gather(internal)  # type: ignore[union-attr]
        return self.docs.top_hits(internal, sparse_maxsim(query, rows, offsets), k)

    def _first_stage(self, impacts: dict[str, int], fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """Lucene impact search: internal ids and integer scores, best first."""
        java = import_pyserini("pyserini.pyclass")
        query = java.JHashMap()
        for term, weight in impacts.items():
            query.put(term, java.JInt(weight))
        found = self.lucene.searcher().search(query, fetch)
        internal = np.fromiter((int(h.docid) for h in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((h.score for h in found), dtype=np.float64, count=len(found))
        return internal, scores

    # --- explaining ----------------------------------------------------------------------------

    def _query_and_doc(self, query: str, doc_id: str) -> tuple[VocabTokens, sp.csr_matrix, int]:
        validate_queries([query], 1)
        internal = self.docs.by_ext.get(doc_id)
        if internal is None or self.store is None:
            raise DocumentNotFound(f"document {doc_id!r} is not in this index")
        encoded = self.encoder.encode([query], is_query=True, top_k=self.config.token_top_k)[0]
        return encoded, self.store.rows(self.store.doc_rows(internal)), internal

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """For each query token, the document token with the largest sparse dot product, and that product."""
        encoded, doc, internal = self._query_and_doc(query, doc_id)
        query_rows = self._token_rows(encoded)
        sims = (query_rows @ doc.T).toarray() if doc.shape[0] else np.zeros((query_rows.shape[0], 1))
        best = sims.argmax(axis=1)
        doc_token_ids = self.store.token_ids[self.store.doc_rows(internal)]  # type: ignore[union-attr]
        query_tokens = self.encoder.decode_tokens(encoded.token_ids)
        matches = []
        for i, token in enumerate(query_tokens):
            score = float(sims[i, best[i]])
            doc_token = self.encoder.decode_tokens([doc_token_ids[best[i]]])[0] if score > 0 else ""
            matches.append(TokenMatch(query_token=token, doc_token=doc_token, score=score))
        return matches

    def explain_terms(self, query: str, doc_id: str, limit: int = 10) -> list[TermWeight]:
        """Vocabulary terms by their share of the score.

        With refinement, term `t` contributes `sum_i q_i[t] * d_j(i)[t]`, `d_j(i)` being the document
        token that query token `i` matched; first stage only, `q[t] * d[t]` of the max-pooled vectors.
        """
        encoded, doc, _ = self._query_and_doc(query, doc_id)
        query_rows = self._token_rows(encoded)
        if doc.shape[0] == 0 or query_rows.shape[0] == 0:
            return []
        if self.config.refine:
            best = (query_rows @ doc.T).toarray().argmax(axis=1)
            contributions = np.asarray(query_rows.multiply(doc[best]).sum(axis=0)).ravel()
        else:
            pooled_query, pooled_doc = query_rows.max(axis=0), doc.max(axis=0)
            contributions = pooled_query.multiply(pooled_doc).toarray().ravel()
        top = [t for t in np.argsort(-contributions)[:limit] if contributions[t] > 0]
        terms = self.encoder.decode_tokens(top)
        return [TermWeight(term=s, score=float(contributions[t])) for s, t in zip(terms, top, strict=True)]

    # --- files ---------------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        meta = {"vocab_size": self.store.vocab_size if self.store else None, "vocab": self.vocab_fingerprint}
        (path / META_FILE).write_text(json.dumps(meta))
        if self.store is not None:
            self.store.save(path, STORE_PREFIX)
        self.lucene.save_to(path / LUCENE_DIR, functools.partial(_write_empty, self.config.threads))

    @classmethod
    def _load_payload(cls, path: Path, config: SlimConfig) -> Self:  # type: ignore[override]
        index = cls(config)
        try:
            meta = json.loads((path / META_FILE).read_text())
            vocab_size, index.vocab_fingerprint = meta["vocab_size"], meta["vocab"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndex(f"{path}: unreadable {META_FILE}: {exc}") from exc
        if vocab_size is not None:
            index.store = SparseStore.load(path, STORE_PREFIX, int(vocab_size))
        index.lucene.open_saved(path / LUCENE_DIR)
        return index

    def close(self) -> None:
        """Close the searcher and delete the instance's temporary files; leaves the index empty."""
        self.lucene.clear()
        self.store = None
        self.docs = DocTable()


def _pseudo_document(impacts: dict[str, int]) -> str:
    """Anserini's impact encoding: each term repeated `impact` times (term frequency = impact)."""
    return " ".join(" ".join([term] * weight) for term, weight in impacts.items())


def _impact_writer(folder: Path, append: bool, threads: int) -> Any:
    """A pyserini indexer writing pre-tokenised impact documents into `folder`."""
    indexer = import_pyserini("pyserini.index.lucene").LuceneIndexer
    args = ["-index", str(folder), "-impact", "-pretokenized"]
    return indexer(str(folder), args=args, append=append, threads=threads)


def _write_empty(threads: int, folder: Path) -> None:
    """An empty Lucene impact index (an unbuilt index stays loadable)."""
    shutil.rmtree(folder, ignore_errors=True)
    _impact_writer(folder, False, threads).close()
