"""BM25 over a real Lucene index (pyserini). The JVM starts once per test process (~8 s)."""

from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest

from indexers.base import Doc
from indexers.configs import BM25Config
from indexers.errors import CorruptIndex, InvalidInput
from indexers.kinds.bm25 import BM25Index
from indexers.registry import open_index
from indexers.storage.versions import commit, list_versions, open_current
from service.core.store import IndexStore
from service.jobs import Layout

QUERIES = {
    "insulin diabetes": "d01",
    "aspirin heart attack": "d02",
    "lung cancer smoking": "d04",
    "volcanic eruptions ash": "d14",
    "honey bees waggle dance": "d17",
}


@pytest.fixture(scope="module")
def built(tiny_docs: list[Doc]) -> BM25Index:
    """One index over the tiny corpus, shared by the read-only tests (starts the JVM once)."""
    index = BM25Index(BM25Config())
    index.build(tiny_docs)
    return index


@pytest.fixture
def fresh(tiny_docs: list[Doc]) -> BM25Index:
    """A new index for tests that change it (cheap once the JVM runs)."""
    index = BM25Index(BM25Config())
    index.build(tiny_docs)
    return index


def top_ids(index: BM25Index, query: str, k: int = 10) -> list[str]:
    return [hit.doc_id for hit in index.search([query], k=k)[0]]


def test_obvious_document_first_in_one_batch(built: BM25Index) -> None:
    results = built.search(list(QUERIES), k=3)
    assert [hits[0].doc_id for hits in results] == list(QUERIES.values())
    for hits in results:
        assert 1 <= len(hits) <= 3
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)


def test_hits_carry_metadata_and_unmatched_query_is_empty(built: BM25Index) -> None:
    hit = built.search(["insulin diabetes"], k=1)[0][0]
    assert hit.metadata == {"topic": "medicine", "year": 2019}
    assert built.search(["zebra xylophone"], k=5) == [[]]
    assert built.num_docs == 20


def test_scores_follow_lucene_bm25_with_configured_k1_b(built: BM25Index) -> None:
    docs = [Doc("a", "apple banana cherry"), Doc("b", "apple apple"), Doc("c", "cherry grape melon kiwi")]
    lengths, tf, n_docs, df = {"a": 3, "b": 2}, {"a": 1, "b": 2}, 3, 2
    avg = (3 + 2 + 4) / n_docs
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    for k1, b in [(0.9, 0.4), (1.5, 1.0)]:
        index = BM25Index(BM25Config(k1=k1, b=b))
        index.build(docs)
        got = {hit.doc_id: hit.score for hit in index.search(["apple"])[0]}
        expected = {d: idf * tf[d] / (tf[d] + k1 * (1 - b + b * lengths[d] / avg)) for d in tf}
        assert got == pytest.approx(expected, abs=1e-3)


def test_delete_removes_and_unknown_ids_are_ignored(fresh: BM25Index) -> None:
    fresh.delete(["d01", "no-such-doc"])
    assert "d01" not in top_ids(fresh, "insulin diabetes")
    assert fresh.num_docs == 19
    assert len(fresh.search(["the glucose of blood"], k=20)[0]) >= 1


def test_readd_replaces_text_and_metadata(fresh: BM25Index) -> None:
    fresh.add([Doc("d01", "Volcanic ash clouds ground flights.", "Volcano ash", {"topic": "geology"})])
    assert "d01" not in top_ids(fresh, "insulin diabetes")
    hits = fresh.search(["volcanic ash clouds flights"], k=3)[0]
    assert hits[0].doc_id == "d01"
    assert hits[0].metadata == {"topic": "geology"}
    assert [h.doc_id for h in hits].count("d01") == 1
    assert fresh.num_docs == 20


def test_add_after_build(fresh: BM25Index) -> None:
    fresh.add([Doc("d21", "Insulin pumps deliver insulin continuously.", "Insulin pumps")])
    assert set(top_ids(fresh, "insulin", k=2)) == {"d01", "d21"}
    assert fresh.num_docs == 21


def test_stale_versions_do_not_crowd_out_k(fresh: BM25Index) -> None:
    for _ in range(3):  # each re-add leaves a strongly matching stale Lucene document behind
        fresh.add([Doc("d21", "insulin insulin insulin insulin")])
    fresh.add([Doc("d21", "a note on insulin dosing schedules for older adults")])
    hits = fresh.search(["insulin"], k=2)[0]
    assert sorted(h.doc_id for h in hits) == ["d01", "d21"]


def test_add_to_empty_index_and_search_before_build() -> None:
    index = BM25Index(BM25Config())
    assert index.search(["anything"], k=3) == [[]]
    index.add([Doc("x", "granite basalt"), Doc("y", "sandstone")])
    assert top_ids(index, "basalt") == ["x"]


def test_build_replaces_previous_content(fresh: BM25Index) -> None:
    fresh.build([Doc("only", "a single document about insulin")])
    assert fresh.num_docs == 1
    assert top_ids(fresh, "insulin diabetes") == ["only"]


def test_save_open_same_results_and_saved_copy_is_immutable(fresh: BM25Index, tmp_path: Path) -> None:
    fresh.delete(["d02"])
    fresh.save(tmp_path / "v1")
    loaded = open_index(tmp_path / "v1")
    assert isinstance(loaded, BM25Index)
    assert loaded.search(list(QUERIES), k=5) == fresh.search(list(QUERIES), k=5)
    assert loaded.num_docs == 19

    loaded.add([Doc("d30", "aspirin aspirin aspirin")])
    assert top_ids(loaded, "aspirin")[0] == "d30"
    again = open_index(tmp_path / "v1")
    assert "d30" not in top_ids(again, "aspirin")
    loaded.save(tmp_path / "v2")
    assert top_ids(open_index(tmp_path / "v2"), "aspirin")[0] == "d30"


def test_unsaved_instance_cleans_up_on_close_and_collection(tiny_docs: list[Doc]) -> None:
    index = BM25Index(BM25Config())
    index.build(tiny_docs[:5])
    folder = index.lucene.path
    assert folder is not None and folder.is_dir()
    index.close()
    assert not folder.exists()
    assert index.num_docs == 0 and index.search(["insulin"]) == [[]]

    index.add(tiny_docs[:2])
    assert top_ids(index, "insulin") == ["d01"]
    folder = index.lucene.path
    del index
    gc.collect()
    assert folder is not None and not folder.exists()


def test_unbuilt_index_saves_and_loads(tmp_path: Path) -> None:
    BM25Index(BM25Config()).save(tmp_path / "empty")
    assert open_index(tmp_path / "empty").search(["x"]) == [[]]


def test_missing_lucene_files_are_corrupt(fresh: BM25Index, tmp_path: Path) -> None:
    fresh.save(tmp_path / "v1")
    for file in (tmp_path / "v1" / "lucene").glob("segments_*"):
        file.unlink()
    with pytest.raises(CorruptIndex):
        open_index(tmp_path / "v1")


@pytest.mark.parametrize("queries, k", [([""], 10), (["ok", "   "], 10), (["ok"], 0)])
def test_bad_queries_raise_invalid_input(built: BM25Index, queries: list[str], k: int) -> None:
    with pytest.raises(InvalidInput):
        built.search(queries, k=k)


def test_query_over_lucene_clause_limit_is_invalid_input(built: BM25Index) -> None:
    huge = " ".join(f"term{i}" for i in range(1100))
    with pytest.raises(InvalidInput, match="position 1"):
        built.search(["insulin", huge])


def test_a_loaded_version_answers_after_newer_commits_prune_around_it(
    tiny_docs: list[Doc], tmp_path: Path
) -> None:
    """The searcher opens on the first query: its version must outlive two newer commits (keep=2)."""
    commit(bm25_over(tiny_docs), tmp_path, "bm25", keep=2)
    held = open_current(tmp_path, "bm25")
    commit(bm25_over(tiny_docs[:3]), tmp_path, "bm25", keep=2)
    commit(bm25_over(tiny_docs[:4]), tmp_path, "bm25", keep=2)
    assert top_ids(held, "volcanic eruptions ash")[0] == "d14"  # d14 is only in the held version
    del held
    gc.collect()
    commit(bm25_over(tiny_docs[:5]), tmp_path, "bm25", keep=2)
    assert list_versions(tmp_path, "bm25") == ["v000003", "v000004"]


def test_the_service_store_serves_a_held_version_and_drops_it_on_reload(
    tiny_docs: list[Doc], tmp_path: Path
) -> None:
    store = IndexStore(Layout(tmp_path))
    root = store.layout.index_root("t", "c")
    commit(bm25_over(tiny_docs), root, "bm25", keep=2)
    in_flight = store.get("t", "c", "bm25")  # a search took the index, then commits landed
    commit(bm25_over(tiny_docs[:3]), root, "bm25", keep=2)
    commit(bm25_over(tiny_docs[:4]), root, "bm25", keep=2)
    assert in_flight is not None and top_ids(in_flight, "volcanic eruptions ash")[0] == "d14"
    reloaded = store.get("t", "c", "bm25")
    assert reloaded is not None and reloaded.num_docs == 4
    del in_flight  # the store dropped v000001 on reload; the last search on it is done
    gc.collect()
    commit(bm25_over(tiny_docs[:5]), root, "bm25", keep=2)
    assert list_versions(root, "bm25") == ["v000003", "v000004"]


def bm25_over(docs: list[Doc]) -> BM25Index:
    index = BM25Index(BM25Config())
    index.build(docs)
    return index
