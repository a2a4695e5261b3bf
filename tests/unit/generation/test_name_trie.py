"""The GENRE name trie on hand-made token sequences: shape, shared prefixes, duplicates, updates, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.errors import CorruptIndex, InvalidInput
from indexers.generation.name_trie import NameTrie, TrieState

END = 1
NAMES = [[5, 6, 7], [5, 6], [5, 8], [9], [5, 6, 7]]


def walk(trie: NameTrie, tokens: list[int]) -> TrieState:
    state = trie.root()
    for token in tokens:
        assert token in trie.next_tokens(state).tolist()
        state = trie.advance(state, token)
    return state


def names_reachable(trie: NameTrie) -> set[tuple[int, ...]]:
    """Every name decodable from the root, by exhaustive walk."""
    found: set[tuple[int, ...]] = set()
    stack = [trie.root()]
    while stack:
        state = stack.pop()
        for token in trie.next_tokens(state).tolist():
            child = trie.advance(state, token)
            if token == END:
                found.add(trie.sequence(trie.name_at(child))[:-1])
            else:
                stack.append(child)
    return found


def test_bulk_build_shares_prefixes_in_breadth_first_csr() -> None:
    trie, ids = NameTrie.from_names(NAMES, END, vocab_size=20)
    assert ids.tolist() == [1, 0, 2, 3, 1]  # equal sequences share an id; ids follow sorted order
    assert trie.name_refs.tolist() == [1, 2, 1, 1]
    # root -> {5, 9}; 5 -> {6, 8}; 9 -> {END}; 5 6 -> {END, 7}; ...: 10 nodes in all
    assert trie.node_token.tolist() == [0, 5, 9, 6, 8, END, END, 7, END, END]
    assert trie.child_start.tolist() == [1, 3, 5, 6, 8, 9, 9, 9, 10, 10, 10]
    assert trie.node_live.tolist() == [4, 3, 1, 2, 1, 1, 1, 1, 1, 1]
    assert trie.node_token.dtype == np.uint16
    assert trie.max_length == 4
    assert names_reachable(trie) == {(5, 6, 7), (5, 6), (5, 8), (9,)}


def test_decoding_follows_only_existing_names() -> None:
    trie, ids = NameTrie.from_names(NAMES, END, vocab_size=20)
    assert trie.next_tokens(trie.root()).tolist() == [5, 9]
    assert trie.next_tokens(walk(trie, [5])).tolist() == [6, 8]
    assert trie.next_tokens(walk(trie, [5, 6])).tolist() == [END, 7]
    assert trie.name_at(walk(trie, [5, 6, 7, END])) == ids[0]
    assert trie.name_at(walk(trie, [5, 6])) == -1


def test_duplicates_stay_until_every_reference_is_released() -> None:
    trie, ids = NameTrie.from_names(NAMES, END, vocab_size=20)
    trie.release(int(ids[0]))
    assert (5, 6, 7) in names_reachable(trie)  # the second reference keeps it
    trie.release(int(ids[0]))
    assert names_reachable(trie) == {(5, 6), (5, 8), (9,)}
    assert trie.next_tokens(walk(trie, [5, 6])).tolist() == [END]  # the dead branch is pruned
    trie.release(int(ids[0]))  # releasing a dead name is ignored
    assert trie.refs(int(ids[0])) == 0
    assert trie.insert([5, 6, 7]) == ids[0]  # revived under its old id
    assert (5, 6, 7) in names_reachable(trie)


def test_insert_goes_to_the_overlay_then_compacts_with_stable_ids(tmp_path: Path) -> None:
    trie, ids = NameTrie.from_names(NAMES, END, vocab_size=20)
    new = trie.insert([5, 6, 9, 9])
    assert new == 4 and trie.num_live == 5
    assert trie.next_tokens(walk(trie, [5, 6])).tolist() == [END, 7, 9]  # CSR and overlay merged
    assert trie.name_at(walk(trie, [5, 6, 9, 9, END])) == new
    assert trie.insert([5, 6, 9, 9]) == new and trie.refs(new) == 2
    trie.release(int(ids[2]))
    trie.compact()
    assert names_reachable(trie) == {(5, 6, 7), (5, 6), (9,), (5, 6, 9, 9)}
    assert trie.find([5, 6, 9, 9, END]) == new
    assert trie.find([5, 8, END]) is None  # dropped from the CSR layer
    assert trie.max_length == 5


def test_save_and_memory_mapped_load_round_trip(tmp_path: Path) -> None:
    trie, _ = NameTrie.from_names(NAMES, END, vocab_size=100_000)
    assert trie.node_token.dtype == np.int32  # the vocabulary does not fit uint16
    new = trie.insert([70_000, 5])
    trie.save(tmp_path / "trie")
    loaded = NameTrie.load(tmp_path / "trie")
    assert isinstance(loaded.node_token, np.memmap)
    assert names_reachable(loaded) == names_reachable(trie) == {(5, 6, 7), (5, 6), (5, 8), (9,), (70_000, 5)}
    assert loaded.nbytes == trie.nbytes
    loaded.release(new)  # copy-on-write: the file is untouched
    assert (70_000, 5) not in names_reachable(loaded)
    assert (70_000, 5) in names_reachable(NameTrie.load(tmp_path / "trie"))


def test_empty_trie_and_bad_names() -> None:
    trie, ids = NameTrie.from_names([], END, vocab_size=20)
    assert len(ids) == 0 and trie.num_live == 0 and trie.next_tokens(trie.root()).size == 0
    for bad in ([], [END], [3, 25], [-1]):
        with pytest.raises(InvalidInput):
            trie.insert(bad)
        with pytest.raises(InvalidInput):
            NameTrie.from_names([[4], bad], END, vocab_size=20)
    assert trie.num_live == 0


def test_load_rejects_missing_or_inconsistent_files(tmp_path: Path) -> None:
    with pytest.raises(CorruptIndex):
        NameTrie.load(tmp_path / "none")
    trie, _ = NameTrie.from_names(NAMES, END, vocab_size=20)
    trie.save(tmp_path / "t")
    np.save(tmp_path / "t" / "child_start.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(CorruptIndex, match="inconsistent"):
        NameTrie.load(tmp_path / "t")


def test_bulk_build_matches_incremental_inserts() -> None:
    rng = np.random.default_rng(7)
    names = [rng.integers(2, 12, size=rng.integers(1, 6)).tolist() for _ in range(300)]
    bulk, _ = NameTrie.from_names(names, END, vocab_size=12)
    incremental = NameTrie(END, 12)
    for name in names:
        incremental.insert(name)
    expected = {tuple(n) for n in names}
    assert names_reachable(bulk) == names_reachable(incremental) == expected
    incremental.compact()
    assert np.array_equal(incremental.child_start, bulk.child_start)
    assert np.array_equal(incremental.node_token, bulk.node_token)
