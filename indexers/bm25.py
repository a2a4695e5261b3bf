"""BM25 over a real Lucene index, built and searched through pyserini (Anserini).

Each Lucene document is one Tessera document: its id field is the DocTable internal id (as a
string) and its contents are `Doc.full_text` (title + text), analysed by Anserini's default
English analyser (Porter stemming, stopwords removed). Re-adds and deletes are DocTable tombstones:
the stale Lucene documents stay until the next `build` and are skipped at search time, which
over-fetches by the number of tombstones so that k live hits still come back.

Where the Lucene files live: `build` and `add` write into a temporary folder owned by the instance
(removed by `close()` or when the instance is garbage collected). `save` copies them into
`{path}/lucene`; a loaded index searches that folder in place and copies it into a fresh owned
folder on its first `add`, so a saved version is never modified.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from indexers.base import Doc, DocTable, Hit, Index, Progress, validate_docs, validate_queries
from indexers.configs import BM25Config
from indexers.errors import CorruptIndex, InvalidInput
from indexers.lucene import start_jvm

__all__ = ["BM25Index"]

LUCENE_DIR = "lucene"
BATCH = 1000


def _copy_lucene(source: Path, target: Path) -> None:
    """Copy a committed Lucene index folder (the writer's lock file is left behind)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("write.lock"), dirs_exist_ok=True)


class BM25Index(Index):
    """BM25 (Lucene, via pyserini) with `k1`, `b` and `threads` (indexing and batch search) from `BM25Config`.

    Not safe for a mutation running concurrently with searches (single writer, like the other kinds).
    """

    kind = "bm25"
    config: BM25Config

    def __init__(self, config: BM25Config) -> None:
        super().__init__(config)
        self._lucene: Path | None = None  # folder holding the live Lucene files
        self._owned: Path | None = None  # temporary folder this instance owns
        self._cleanup: Callable[[], Any] | None = None  # a weakref.finalize
        self._searcher: Any = None
        self._close_searcher_once: Callable[[], Any] | None = None  # a weakref.finalize
        self._lock = threading.Lock()

    # --- writing ---------------------------------------------------------------------------

    def build(self, docs: Iterable[Doc], progress: Progress | None = None) -> None:
        """Index `docs` from scratch into a new Lucene index (dropping every tombstone)."""
        docs = list(docs)
        validate_docs(docs)
        table = DocTable()
        ids = table.assign(docs)
        folder = self._new_folder()
        try:
            self._write(folder, docs, ids, append=False, progress=progress)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._release()
        self._own(folder)
        self.docs = table

    def add(self, docs: Sequence[Doc], progress: Progress | None = None) -> None:
        """Append `docs` to the Lucene index; an existing id is tombstoned and indexed anew."""
        validate_docs(docs)
        if not docs:
            return
        append = self._lucene is not None
        folder = self._owned or self._copy_on_write()
        ids = self.docs.assign(docs)
        self._close_searcher()
        self._write(folder, docs, ids, append=append, progress=progress)

    def _write(
        self, folder: Path, docs: Sequence[Doc], ids: np.ndarray, *, append: bool, progress: Progress | None
    ) -> None:
        start_jvm()
        from pyserini.index.lucene import LuceneIndexer

        writer = LuceneIndexer(str(folder), append=append, threads=self.config.threads)
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
        if self._lucene is None or self.num_docs == 0:
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
        searcher = self._open_searcher()
        from jnius import JavaException  # only after start_jvm() has configured the JVM

        if len(queries) > 1:
            qids = [str(i) for i in range(len(queries))]
            try:
                found = searcher.batch_search(queries, qids, k=fetch, threads=self.config.threads)
                return [list(found.get(qid, [])) for qid in qids]
            except JavaException:
                pass  # an unusable query fails the whole batch; find and name it below
        results = []
        for position, query in enumerate(queries):
            try:
                results.append(list(searcher.search(query, k=fetch)))
            except JavaException as exc:
                if "TooManyClauses" in str(exc):
                    raise InvalidInput(
                        f"query at position {position} has more than 1024 distinct terms (Lucene limit)"
                    ) from exc
                raise
        return results

    def _open_searcher(self) -> Any:
        with self._lock:
            if self._searcher is None:
                start_jvm()
                from pyserini.search.lucene import LuceneSearcher

                searcher = LuceneSearcher(str(self._lucene))
                searcher.set_bm25(self.config.k1, self.config.b)
                self._searcher = searcher
                self._close_searcher_once = weakref.finalize(self, searcher.close)
                self._close_searcher_once.atexit = False  # the JVM goes away with the process
            return self._searcher

    # --- files -----------------------------------------------------------------------------

    def _save_payload(self, path: Path) -> None:
        target = path / LUCENE_DIR
        if self._lucene is not None and target.resolve() == self._lucene.resolve():
            return
        if target.exists():
            shutil.rmtree(target)
        if self._lucene is None:  # never built: an empty Lucene index keeps the folder loadable
            self._write(target, [], np.empty(0, dtype=np.int64), append=False, progress=None)
        else:
            _copy_lucene(self._lucene, target)

    @classmethod
    def _load_payload(cls, path: Path, config: BM25Config) -> Self:  # type: ignore[override]
        folder = path / LUCENE_DIR
        if not any(folder.glob("segments_*")):
            raise CorruptIndex(f"{path}: no Lucene index in {LUCENE_DIR}/")
        index = cls(config)
        index._lucene = folder
        return index

    # --- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the searcher and delete the instance's temporary files; leaves the index empty."""
        self._release()
        self._lucene = None
        self.docs = DocTable()

    def _new_folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="tessera-bm25-"))

    def _own(self, folder: Path) -> None:
        self._owned = self._lucene = folder
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    def _copy_on_write(self) -> Path:
        """Give the instance its own writable folder, holding a copy of the loaded files if any."""
        folder = self._new_folder()
        if self._lucene is not None:
            _copy_lucene(self._lucene, folder)
        self._release()
        self._own(folder)
        return folder

    def _close_searcher(self) -> None:
        with self._lock:
            if self._close_searcher_once is not None:
                self._close_searcher_once()
            self._searcher = self._close_searcher_once = None

    def _release(self) -> None:
        """Close the searcher and remove the owned folder, if any."""
        self._close_searcher()
        if self._cleanup is not None:
            self._cleanup()
        self._owned = self._cleanup = None
