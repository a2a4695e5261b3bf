"""What indexes keep on disk, and the stores they read through.

- `doc_table`: external <-> internal document ids, metadata and tombstones, shared by every kind.
- `faiss_lib`: the FAISS module, imported on first use.
- `lucene_files`: where a Lucene-backed index keeps its files, and the searcher open on them.
- `lucene_jvm`: the one-time JVM bootstrap for pyserini.
- `qdrant_scroll`: every point of a Qdrant collection matching a filter, page by page.
- `resident`: the bytes an index's pieces hold in memory (memory-mapped pages excluded).
- `segments`: what segmented stores share (an array read across segments, files linked between versions).
- `sparse_store`: sparse vocabulary-space vectors per document (CSR arrays, memory-mapped on load).
- `token_ann`: the FAISS inner-product index over token vectors, for candidate generation (codes
  memory-mapped on load).
- `token_store`: every document's token vectors back to back (float16, PQ or residual codes, memory-mapped).
- `versions`: versioned index folders with an atomic `CURRENT` pointer.
"""

from __future__ import annotations

__all__: list[str] = []
