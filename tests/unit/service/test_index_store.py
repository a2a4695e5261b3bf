"""The service's cache of loaded indexes: bounded by bytes, least recently used out, reloaded on use."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexers import Doc, create_index, parse_config
from indexers.base import Index
from indexers.kinds.dense import DenseIndex
from indexers.storage.versions import commit, list_versions
from service.core.store import IndexStore
from service.jobs import Layout

QUERY = "insulin lowers blood glucose"
COLLECTIONS = ("c1", "c2", "c3")


def dense_over(docs: list[Doc]) -> Index:
    index = create_index(parse_config({"kind": "dense", "encoder": {"model": "fake:hash"}}))
    index.build(docs)
    return index


def store_of(tmp_path: Path, docs: list[Doc], max_bytes: int | None) -> IndexStore:
    """A store over three collections holding the same documents (so their indexes weigh the same)."""
    store = IndexStore(Layout(tmp_path), max_bytes)
    for collection in COLLECTIONS:
        commit(dense_over(docs), store.layout.index_root("t", collection), "dense")
    return store


def get(store: IndexStore, collection: str) -> Index:
    index = store.get("t", collection, "dense")
    assert index is not None
    return index


def ranked(index: Index) -> list[tuple[str, float]]:
    return [(h.doc_id, h.score) for h in index.search([QUERY], k=5)[0]]


def test_an_unbounded_store_keeps_every_index(tiny_docs: list[Doc], tmp_path: Path) -> None:
    store = store_of(tmp_path, tiny_docs, None)
    first = [get(store, c) for c in COLLECTIONS]
    assert [get(store, c) for c in COLLECTIONS] == first


def test_past_the_bound_the_least_recently_used_index_goes(tiny_docs: list[Doc], tmp_path: Path) -> None:
    one = get(store_of(tmp_path / "probe", tiny_docs, None), "c1").memory_bytes()
    store = store_of(tmp_path, tiny_docs, int(2.5 * one))
    c1, c2 = get(store, "c1"), get(store, "c2")
    before = ranked(c2)
    assert get(store, "c1") is c1  # both fit; c1 is now the most recently used
    c3 = get(store, "c3")  # three do not fit: c2, least recently used, goes
    assert get(store, "c1") is c1 and get(store, "c3") is c3
    reloaded = get(store, "c2")  # loaded again; c1 is now the least recently used
    assert reloaded is not c2
    assert ranked(reloaded) == before
    assert get(store, "c3") is c3
    assert get(store, "c1") is not c1


def test_a_zero_bound_keeps_only_the_index_just_loaded(tiny_docs: list[Doc], tmp_path: Path) -> None:
    store = store_of(tmp_path, tiny_docs, 0)
    c1 = get(store, "c1")
    assert get(store, "c1") is c1
    get(store, "c2")
    assert get(store, "c1") is not c1


def test_a_search_running_on_an_evicted_index_completes(
    tiny_docs: list[Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(tmp_path, tiny_docs, 0)
    root = store.layout.index_root("t", "c1")
    index = get(store, "c1")
    expected = ranked(index)
    entered, resume = threading.Event(), threading.Event()
    embed, held_id = DenseIndex._embed, id(index)

    def slow_embed(self: DenseIndex, texts: list[str], **kwargs: Any) -> np.ndarray:
        if id(self) == held_id:  # the held index's search waits here until the test resumes it
            entered.set()
            assert resume.wait(10)
        return embed(self, texts, **kwargs)

    monkeypatch.setattr(DenseIndex, "_embed", slow_embed)
    results: list[list[tuple[str, float]]] = []
    search = threading.Thread(target=lambda held: results.append(ranked(held)), args=(index,))
    search.start()
    assert entered.wait(10)
    del index  # only the running search holds it now
    get(store, "c2")  # evicts c1
    gc.collect()
    for _ in range(2):  # newer commits may not prune the version the search still reads
        commit(dense_over(tiny_docs[:3]), root, "dense", keep=1)
    assert "v000001" in list_versions(root, "dense")
    resume.set()
    search.join(10)
    assert results == [expected]
    gc.collect()  # the search is over: nothing holds v000001 now
    commit(dense_over(tiny_docs[:3]), root, "dense", keep=1)
    assert list_versions(root, "dense") == ["v000004"]
