"""Token kinds write each saved add as a new segment: saved segments are linked, not rewritten;
search across segments matches one segment; compaction drops deleted documents; old folders open."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, Index, create_index, open_index
from indexers.storage.segments import Column
from tests.unit.synthetic import config

KINDS = {
    "ivf": ("colbert_pooled", {"pool_factor": 1, "ann": "ivf", "nlist": 16, "nprobe": 4}),
    "residual": (
        "colbert_pooled",
        {"pool_factor": 1, "vector_codec": "residual", "num_centroids": 64, "residual_min_vectors": 0},
    ),
    "xtr": ("xtr", {"ann": "ivf", "nlist": 16, "nprobe": 8, "candidate_tokens": 200}),
    "exact": ("exact", {}),
}


def probes(corpus: list[Doc], ids: range) -> list[str]:
    return [" ".join(corpus[i].text.split()[:8]) for i in ids]


def ranked(index: Index, queries: list[str]) -> list[list[tuple[str, float]]]:
    return [[(h.doc_id, round(h.score, 3)) for h in hits] for hits in index.search(queries, k=10)]


def two_segments(name: str, corpus: list[Doc], tmp_path: Path) -> tuple[Index, Index]:
    """The same documents as a saved 150 plus 50 added after a reload, and added without a save."""
    kind, extra = KINDS[name]
    saved = create_index(config(kind, **extra))
    saved.build(corpus[:150])
    saved.save(tmp_path / "a")
    segmented = open_index(tmp_path / "a")
    segmented.add(corpus[150:200])
    whole = create_index(config(kind, **extra))
    whole.build(corpus[:150])
    whole.add(corpus[150:200])
    return segmented, whole


@pytest.mark.parametrize("name", ["ivf", "residual", "xtr"])
def test_an_add_writes_only_its_segment_and_links_the_rest(
    name: str, corpus: list[Doc], tmp_path: Path
) -> None:
    segmented, whole = two_segments(name, corpus, tmp_path)
    assert segmented.num_segments == 2 and whole.num_segments == 1  # type: ignore[attr-defined]
    segmented.save(tmp_path / "b")
    old, new = tmp_path / "a", tmp_path / "b"
    shared = sorted(p.name for p in new.glob("seg-0-*")) + [p.name for p in new.glob("token_ann-0.faiss")]
    assert len(shared) >= 3
    for file in shared:
        assert os.stat(new / file).st_ino == os.stat(old / file).st_ino and os.stat(new / file).st_nlink == 2
    written = list(new.glob("seg-1-*")) + list(new.glob("token_ann-1.faiss"))
    assert written and all(p.stat().st_nlink == 1 for p in written)
    queries = probes(corpus, range(140, 160))
    assert ranked(open_index(new), queries) == ranked(whole, queries) == ranked(segmented, queries)


@pytest.mark.parametrize("name", ["ivf", "residual", "xtr", "exact"])
def test_compact_drops_deleted_documents_and_keeps_results(
    name: str, corpus: list[Doc], tmp_path: Path
) -> None:
    index, _ = two_segments(name, corpus, tmp_path)
    index.delete([f"doc{i}" for i in range(0, 200, 3)])
    index.add(corpus[10:12])  # re-added: their old rows are tombstoned too
    queries = probes(corpus, range(0, 200, 7))
    before = ranked(index, queries)
    index.compact()  # type: ignore[attr-defined]
    store = index.store  # type: ignore[attr-defined]
    assert index.num_segments == 1 and store.num_slots == index.num_docs == index.docs.size  # type: ignore[attr-defined]
    assert bool(index.docs.alive().all())
    if getattr(index, "ann", None) is not None:
        assert index.ann.ntotal == store.num_vectors and len(index.ann.parts) == 1  # type: ignore[attr-defined]
    after = ranked(index, queries)
    if name == "xtr":  # deleted documents' tokens no longer take retrieval slots: imputed scores move
        assert np.mean([a[0][0] == b[0][0] for a, b in zip(after, before, strict=True)]) >= 0.9
    else:
        assert after == before
    index.save(tmp_path / "c")
    assert ranked(open_index(tmp_path / "c"), queries) == ranked(index, queries)


@pytest.mark.parametrize("name", ["ivf", "residual"])
def test_a_folder_saved_before_segments_opens_and_grows(name: str, corpus: list[Doc], tmp_path: Path) -> None:
    kind, extra = KINDS[name]
    index = create_index(config(kind, **extra))
    index.build(corpus[:150])
    old = tmp_path / "old"
    index.save(old)
    for part, legacy in [("rows", "token_rows"), ("token_ids", "token_ids"), ("offsets", "token_offsets")]:
        (old / f"seg-0-{part}.npy").rename(old / f"{legacy}.npy")
    if name == "residual":
        (old / "seg-0-centroids.npy").rename(old / "token_centroids.npy")
    else:
        (old / "token_ann-0.faiss").rename(old / "token_ann.faiss")
        (old / "token_ann.json").unlink()
    (old / "token_segments.json").unlink()
    queries = probes(corpus, range(0, 150, 10))
    reopened = open_index(old)
    assert ranked(reopened, queries) == ranked(index, queries)
    reopened.add(corpus[150:160])
    reopened.save(tmp_path / "new")
    assert os.stat(tmp_path / "new" / "seg-0-rows.npy").st_ino == os.stat(old / "token_rows.npy").st_ino
    again = open_index(tmp_path / "new")
    assert again.num_docs == 160 and ranked(again, queries) == ranked(reopened, queries)


def test_column_indexes_like_the_concatenation() -> None:
    parts = [np.arange(5) * 10, np.arange(3) * 10 + 50, np.arange(4) * 10 + 80]
    column, whole = Column(parts), np.concatenate(parts)
    assert len(column) == 12 and column.shape == (12,) and np.array_equal(np.asarray(column), whole)
    assert column[6] == whole[6] and column[-1] == whole[-1]
    for key in (slice(3, 9), slice(0, 0), slice(5, 8), slice(None, None, 2)):
        assert np.array_equal(column[key], whole[key])
    picks = np.array([11, 0, 5, 7, 4])
    assert np.array_equal(column[picks], whole[picks])
