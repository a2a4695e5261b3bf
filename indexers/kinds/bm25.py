"""BM25 over a real Lucene index, built and searched through pyserini (Anserini).

Each Lucene document is one Tessera document: its id field is the DocTable internal id (as a
string) and its contents are `Doc.full_text` (title + text), analysed by Anserini's default
English analyser (Porter stemming, stopwords removed). Re-adds and deletes are DocTable tombstones:
the stale Lucene documents stay until the next `build` and are skipped at search time, which
over-fetches by the number of tombstones so that k live hits still come back.

The Lucene files' lifetime (temporary owned folder, copy on first write after a load) is
`indexers.storage.lucene_files.LuceneFiles`.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import Doc, Hit, Index, Progress, validate_docs, validate_queries
from indexers.configs import BM25Config
from indexers.errors import InvalidInput
from indexers.storage.doc_table import DocTable
from indexers.storage.lucene_files import LuceneFiles
from indexers.storage.lucene_jvm import import_pyserini

__all__ = ["BM25Index"]

LUCENE_DIR = "lucene"
BATCH = 1000


def _bm25_searcher(config: BM25Config, folder: str) -> Any:
    searcher = import_pyserini("pyserini.search.lucene").LuceneSearcher(folder)
    searcher.set_bm25(config.k1, config.b)
    return searcher


class BM25Index(Index):
    """BM25 (Lucene, via pyserini) with `k1`, `b` and `threads` (indexing and batch search) from `BM25Config`.

    Not safe for a mutation running concurrently with searches (single writer, like the other kinds).
    """

    kind = "bm25"
    config: BM25Config

    def __init__(self, config: BM25Config) -> None:
        super().__init__(config)
        self.lucene = LuceneFiles("tessera-bm25-", functools.partial(_bm25_searcher, config))

    # --- writing ---------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Index `docs` from scratch into a new Lucene index (dropping every tombstone)."""
        docs = list(docs)
        validate_docs(docs)
        table = DocTable()
        ids = table.assign(docs)
        folder = self.lucene.new_folder()
        try:
            self._write(folder, docs, ids, append=False, progress=progress)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.lucene.adopt(folder)
        self.docs = table

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Append `docs` to the Lucene index; an existing id is tombstoned and indexed anew."""
        validate_docs(docs)
        if not docs:
            return
        append = self.lucene.path is not None
        folder = self.lucene.writable()
        ids = self.docs.assign(docs)
        self._write(folder, docs, ids, append=append, progress=progress)

    def _write(
        self, folder: Path, docs: Sequence[Doc], ids: np.ndarray, *, append: bool, progress: Progress | None
    ) -> None:
        indexer = import_pyserini("pyserini.index.lucene").LuceneIndexer
        writer = indexer(str(folder), append=append, threads=self.config.threads)
        try:
            for start in range(0, len(docs), BATCH):
                batch = zip(docs[start : start + BATCH], ids[start : start + BATCH], strict=True)
                writer.add_batch_dict([{"id": str(int(i)), "contents": d.full_text} for d, i in batch])
                if progress is not None:
                    progress(min(start + BATCH, len(docs)), len(docs))
        finally:
            writer.close()

    # --- searching -------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """BM25 top-k per query, best first.

        Raises:
            InvalidInput: a query is empty, `k` < 1, or a query has more distinct terms than
                Lucene's 1024-clause limit.
        """
        validate_queries(queries, k)
        if self.lucene.path is None or self.num_docs == 0:
            return [[] for _ in queries]
        fetch = k + self.docs.size - len(self.docs)  # room for tombstoned Lucene documents
        results = self._lucene_search(list(queries), fetch)
        hits = []
        for found in results:
            internal = np.fromiter((int(h.docid) for h in found), dtype=np.int64, count=len(found))
            scores = np.fromiter((h.score for h in found), dtype=np.float64, count=len(found))
            hits.append(self.docs.top_hits(internal, scores, k))
        return hits

    def _lucene_search(self, queries: list[str], fetch: int) -> list[list[Any]]:
        """Raw Lucene hits per query: one batch over `threads` threads, or one by one to name a
        query that Lucene rejects."""
        searcher = self.lucene.searcher()
        java_exception = import_pyserini("jnius").JavaException

        if len(queries) > 1:
            qids = [str(i) for i in range(len(queries))]
            try:
                found = searcher.batch_search(queries, qids, k=fetch, threads=self.config.threads)
                return [list(found.get(qid, [])) for qid in qids]
            except java_exception:
                pass  # an unusable query fails the whole batch; find and name it below
        results = []
        for position, query in enumerate(queries):
            try:
                results.append(list(searcher.search(query, k=fetch)))
            except java_exception as exc:
                if "TooManyClauses" in str(exc):
                    raise InvalidInput(
                        f"query at position {position} has more than 1024 distinct terms (Lucene limit)"
                    ) from exc
                raise
        return results

    # --- files -----------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        self.lucene.save_to(
            path / LUCENE_DIR,
            lambda target: self._write(target, [], np.empty(0, dtype=np.int64), append=False, progress=None),
        )

    @classmethod
    def _load_payload(cls, path: Path, config: BM25Config) -> Self:  # type: ignore[override]
        index = cls(config)
        index.lucene.open_saved(path / LUCENE_DIR)
        return index

    def close(self) -> None:
        """Close the searcher and delete the instance's temporary files; leaves the index empty."""
        self.lucene.clear()
        self.docs = DocTable()
