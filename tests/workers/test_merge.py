"""Merging token kinds' segments: inline after a sync past `merge_segments`, and the `index.merge` task."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from indexers.base import Doc
from indexers.storage.versions import open_current, read_manifest
from service.jobs import Layout
from service.settings import get_settings
from tests.workers.test_tasks import FAKE, payload, write


@pytest.fixture()
def layout(make_layout: Callable[..., Layout]) -> Layout:
    kinds = [{"kind": "colbert_pooled", "encoder": FAKE, "ann": "flat"}, {"kind": "dense", "encoder": FAKE}]
    return make_layout(kinds, merge_segments="3")


def segments(layout: Layout) -> int:
    return open_current(layout.index_root("t", "c"), "colbert_pooled").num_segments  # type: ignore[attr-defined, no-any-return]


def test_a_sync_past_the_limit_merges_after_its_commit(layout: Layout, tiny_docs: list[Doc]) -> None:
    from workers.tasks import add_documents, delete_documents

    add_documents(**payload("j1", write(layout, "add", "j1", tiny_docs[:5])))
    for n, start in enumerate((5, 10), start=2):
        add_documents(**payload(f"j{n}", write(layout, "add", f"j{n}", tiny_docs[start : start + 5])))
    assert segments(layout) == 3
    result = delete_documents(**payload("j4", write(layout, "delete", "j4", ["d01"])))
    assert "merged" not in result  # a delete adds no segment
    result = add_documents(**payload("j5", write(layout, "add", "j5", tiny_docs[15:])))
    root = layout.index_root("t", "c")
    assert (
        result["merged"]
        == {"colbert_pooled": "v000006"}
        == {"colbert_pooled": result["versions"]["colbert_pooled"]}
    )
    assert read_manifest(root).seq == 5  # type: ignore[union-attr]
    index = open_current(root, "colbert_pooled")
    assert index.num_segments == 1 and index.docs.size == index.num_docs == 19  # type: ignore[attr-defined]
    assert {h.doc_id for h in index.search(["insulin diabetes"], k=30)[0]} == {d.id for d in tiny_docs} - {
        "d01"
    }


def test_the_merge_task_compacts_under_the_lock_and_keeps_the_seq(
    layout: Layout, tiny_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.tasks import add_documents, delete_documents, merge_index

    monkeypatch.setenv("TESSERA_MERGE_SEGMENTS", "0")
    get_settings.cache_clear()
    for n, start in enumerate(range(0, 20, 5), start=1):
        add_documents(**payload(f"j{n}", write(layout, "add", f"j{n}", tiny_docs[start : start + 5])))
    delete_documents(**payload("j5", write(layout, "delete", "j5", ["d02", "d07"])))
    root = layout.index_root("t", "c")
    before = open_current(root, "colbert_pooled").search(["insulin diabetes"], k=10)[0]
    assert segments(layout) == 4
    write(layout, "add", "j6", tiny_docs[:1])  # accepted, not applied yet: the merge leaves it pending
    result = merge_index(**payload("m1", 0))
    assert result == {"collection": "c", "seq": 5, "merged": {"colbert_pooled": "v000006"}}
    assert read_manifest(root).seq == 5 and segments(layout) == 1  # type: ignore[union-attr]
    assert open_current(root, "colbert_pooled").search(["insulin diabetes"], k=10)[0] == before
    assert add_documents(**payload("j6", 6))["entries"] == 1
    assert merge_index(**payload("m2", 0))["merged"] == {"colbert_pooled": "v000008"}  # j6's segment
    assert merge_index(**payload("m3", 0))["merged"] == {}  # one segment, nothing deleted: nothing to do
    delete_documents(**payload("j7", write(layout, "delete", "j7", ["d03"])))
    assert merge_index(**payload("m4", 0))["merged"] == {"colbert_pooled": "v000010"}  # drops d03
    assert open_current(root, "colbert_pooled").docs.size == 17  # type: ignore[union-attr]


def test_a_merge_that_crashes_before_its_commit_leaves_the_previous_version(
    layout: Layout, tiny_docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import sync
    from workers.tasks import add_documents, merge_index

    for n, start in enumerate((0, 10), start=1):
        add_documents(**payload(f"j{n}", write(layout, "add", f"j{n}", tiny_docs[start : start + 10])))
    root = layout.index_root("t", "c")
    before = read_manifest(root)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(sync, "commit_group", crash)
    with pytest.raises(RuntimeError, match="killed"):
        merge_index(**payload("m1", 0))
    assert read_manifest(root) == before and segments(layout) == 2
    assert open_current(root, "colbert_pooled").num_docs == 20


def test_a_sync_that_grows_a_residual_codec_past_its_fit_refits_it(
    make_layout: Callable[..., Layout], tiny_docs: list[Doc]
) -> None:
    from workers.tasks import add_documents

    residual = {
        "vector_codec": "residual",
        "nprobe": 256,
        "residual_min_vectors": 20,
        "residual_refit_growth": 2.0,
        "residual_pq_m": 0,  # scalar codes: product quantisers need 256 vectors
    }
    layout = make_layout([{"kind": "colbert_pooled", "encoder": FAKE, **residual}])
    result = add_documents(**payload("j1", write(layout, "add", "j1", tiny_docs[:4])))
    root = layout.index_root("t", "c")
    store = open_current(root, "colbert_pooled").store  # type: ignore[attr-defined]
    assert "merged" not in result and store.codec == "residual"
    fitted = store.residual_codec.fit_vectors
    assert fitted == store.num_vectors
    result = add_documents(**payload("j2", write(layout, "add", "j2", tiny_docs[4:])))  # grown > 2x
    assert result["merged"] == {"colbert_pooled": result["versions"]["colbert_pooled"]}
    index = open_current(root, "colbert_pooled")
    assert index.store.residual_codec.fit_vectors == index.store.num_vectors > 2 * fitted  # type: ignore[attr-defined]
    assert not index.refit_due  # type: ignore[attr-defined]
    assert {h.doc_id for h in index.search(["insulin diabetes"], k=30)[0]} == {d.id for d in tiny_docs}
