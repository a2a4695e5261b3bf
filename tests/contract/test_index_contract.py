"""One suite over every registered kind: the behaviour the Index interface promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexers import KINDS, Doc, create_index, open_index, parse_config
from indexers.base import Index
from indexers.configs import EncoderConfig
from indexers.errors import CorruptIndex, IndexNotFound, InvalidConfig, InvalidInput
from indexers.storage.versions import commit, open_current

SLOW_KINDS: set[str] = {"genre"}
TINY_LM = "genre-tiny-lm"
"""genre on a random 2-layer LM (fast run): the interface checks, not the relevance ones."""
CONTRACT_SETTINGS: dict[str, dict[str, object]] = {
    "xtr": {"candidate_tokens": 16},  # k' must not exceed the tokens of the 5-document index below
    "lens": {"n_clusters": 1024, "kmeans_iterations": 4},  # a small vocabulary clustering
}
"""Per-kind settings that keep the suite fast and fit its 5-document index."""
QUERIES = [
    "does insulin lower blood glucose in diabetes",
    "tobacco smoking and lung cancer",
    "carbon dioxide warms the climate",
    "energy of the cell ATP",
]


def make(kind: str, request: pytest.FixtureRequest) -> Index:
    """A fresh index of `kind` with its default config, on the fake encoder where it has one."""
    if kind == TINY_LM:
        return create_index(
            parse_config({"kind": "genre", "model": request.getfixturevalue("tiny_causal_lm")})
        )
    config = parse_config({"kind": kind, **CONTRACT_SETTINGS.get(kind, {})})
    if "encoder" in type(config).model_fields:
        config = config.model_copy(update={"encoder": EncoderConfig(model="fake:hash", batch_size=8)})
    return create_index(config)


def ranks_by_content(index: Index) -> bool:
    return not (index.kind == "genre" and "tiny-lm" in getattr(index.config, "model", ""))


KIND_PARAMS = [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_KINDS else k for k in sorted(KINDS)]
KIND_PARAMS.append(TINY_LM)


@pytest.fixture(params=KIND_PARAMS)
def built(request: pytest.FixtureRequest, tiny_docs: list[Doc]) -> Index:
    index = make(request.param, request)
    index.build(tiny_docs)
    return index


def ids(hits: list) -> list[str]:
    return [h.doc_id for h in hits]


def test_search_returns_at_most_k_sorted_hits(built: Index) -> None:
    results = built.search(QUERIES, k=5)
    assert len(results) == len(QUERIES)
    for hits in results:
        assert 0 < len(hits) <= 5
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert len(set(ids(hits))) == len(hits)
    if ranks_by_content(built):
        assert ids(results[0])[0] == "d01"
        assert ids(results[1])[0] == "d04"


def test_hits_carry_metadata(built: Index, tiny_docs: list[Doc]) -> None:
    hit = built.search([QUERIES[0]], k=1)[0][0]
    if ranks_by_content(built):
        assert hit.doc_id == "d01"
    assert hit.metadata == next(d.metadata for d in tiny_docs if d.id == hit.doc_id)


def test_deleted_ids_never_come_back(built: Index) -> None:
    built.delete(["d01", "d04", "no-such-id"])
    assert built.num_docs == 18
    for hits in built.search(QUERIES, k=20):
        assert not {"d01", "d04"} & set(ids(hits))
    built.delete(["d01"])  # idempotent
    assert built.num_docs == 18


def test_add_of_existing_id_replaces_it(built: Index) -> None:
    built.add([Doc(id="d01", text="Volcanic eruptions of basalt lava on Iceland", metadata={"v": 2})])
    assert built.num_docs == 20
    if not ranks_by_content(built):
        hits = [h for h in built.search(["basalt lava Iceland"], k=20)[0] if h.doc_id == "d01"]
        assert [h.metadata for h in hits] in ([], [{"v": 2}])
        return
    first = built.search(["insulin diabetes glucose"], k=20)[0]
    assert "d01" not in ids(first)[:1]
    hits = built.search(["basalt lava Iceland"], k=3)[0]
    assert hits[0].doc_id == "d01"
    assert hits[0].metadata == {"v": 2}
    assert ids(hits).count("d01") == 1


def test_add_new_documents_after_build(built: Index) -> None:
    built.add([Doc(id="new", text="Penguins huddle together to survive the antarctic winter")])
    assert built.num_docs == 21
    if ranks_by_content(built):
        assert built.search(["penguins antarctic winter"], k=1)[0][0].doc_id == "new"


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_add_to_empty_index_and_search_empty(
    kind: str, tiny_docs: list[Doc], request: pytest.FixtureRequest
) -> None:
    index = make(kind, request)
    assert index.search(["anything"], k=3) == [[]]
    index.add(tiny_docs[:5])
    assert index.num_docs == 5
    hits = ids(index.search([QUERIES[0]], k=1)[0])
    assert len(hits) == 1
    if ranks_by_content(index):
        assert hits == ["d01"]


def test_save_then_open_gives_identical_results(built: Index, tmp_path: Path) -> None:
    built.delete(["d02"])
    before = built.search(QUERIES, k=10)
    built.save(tmp_path / "idx")
    reopened = open_index(tmp_path / "idx")
    assert type(reopened) is type(built)
    assert reopened.num_docs == built.num_docs == 19
    after = reopened.search(QUERIES, k=10)
    for b, a in zip(before, after, strict=True):
        assert ids(b) == ids(a)
        assert [h.score for h in b] == pytest.approx([h.score for h in a], rel=1e-4, abs=1e-4)
    reopened.add([Doc(id="x", text="Penguins huddle in the antarctic winter")])
    assert reopened.num_docs == 20
    if ranks_by_content(reopened):
        assert reopened.search(["penguins antarctic"], k=1)[0][0].doc_id == "x"


def test_commit_swaps_current_version(built: Index, tmp_path: Path) -> None:
    v1 = commit(built, tmp_path, "coll")
    built.delete(["d01"])
    v2 = commit(built, tmp_path, "coll")
    assert (v1, v2) == ("v000001", "v000002")
    assert open_current(tmp_path, "coll").num_docs == 19


def test_bad_batches_raise_and_leave_index_intact(built: Index) -> None:
    before = built.search(QUERIES, k=5)
    for bad in (
        [Doc(id="", text="x")],
        [Doc(id="a", text="x"), Doc(id="a", text="y")],
        [Doc(id="a", text="   ")],
    ):
        with pytest.raises(InvalidInput):
            built.add(bad)
        with pytest.raises(InvalidInput):
            built.build(bad)
    assert built.num_docs == 20
    assert [ids(h) for h in built.search(QUERIES, k=5)] == [ids(h) for h in before]


def test_bad_queries_raise(built: Index) -> None:
    with pytest.raises(InvalidInput):
        built.search([""], k=3)
    with pytest.raises(InvalidInput):
        built.search(["ok"], k=0)


def test_unknown_kind_and_bad_folders_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="unknown|kind"):
        parse_config({"kind": "nope"})
    with pytest.raises(IndexNotFound):
        open_index(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorruptIndex):
        open_index(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptIndex):
        open_index(tmp_path / "bad")
    (tmp_path / "other").mkdir()
    manifest = {
        "kind": "nope",
        "format_version": 1,
        "config": {},
        "num_docs": 0,
        "created_at": "2026-01-01T00:00:00Z",
    }
    (tmp_path / "other" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidConfig):
        open_index(tmp_path / "other")


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_memory_bytes_grows_with_documents(
    kind: str, tiny_docs: list[Doc], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    index = make(kind, request)
    index.build(tiny_docs[:8])
    small = index.memory_bytes()
    assert small > 0
    index.add(tiny_docs[8:])
    built = index.memory_bytes()
    assert built > small
    index.save(tmp_path / "idx")
    loaded = open_index(tmp_path / "idx")
    assert 0 < loaded.memory_bytes() <= built  # what a loaded index memory-maps does not count
