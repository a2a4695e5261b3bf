"""A prefix trie over token-id sequences (names ending in an end token), compact and updatable.

Two layers:

- a compact trie in CSR form, built in one vectorised pass over the sorted sequences. Nodes are
  numbered breadth first, so the children of node `i` are the consecutive nodes
  `child_start[i]:child_start[i + 1]`, sorted by their token. Per node: the token on the edge into it
  (uint16 when the vocabulary allows, else int32), `child_start` (int32), the name id ending there
  (int32, -1 inside names) and the number of live names below it (int32). Saved as `.npy` and
  memory-mapped on load (the live counts copy-on-write), so a reload reads no more than it touches;
- an overlay of names inserted since the last compaction: a dict from prefix to child-token counts.

A name is a stable integer id with a reference count (documents or entities using it). Inserting a
known sequence only increments its count; a count reaching zero removes the name from decoding
(live counts along its path drop, so a dead branch is pruned at once). `compact` folds the overlay
and drops dead names from the CSR layer; `save` compacts first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from sys import getsizeof
from typing import Self

import numpy as np

from indexers.errors import CorruptIndex, InvalidInput
from indexers.storage.resident import array_bytes

__all__ = ["NameTrie", "TrieState"]

_FILES = ("node_token", "child_start", "node_name", "node_live", "name_tokens", "name_offsets", "name_refs")
_MUTABLE = {"node_live", "name_refs"}


@dataclass(frozen=True, slots=True)
class TrieState:
    """A position while decoding: the CSR node reached (-1 once off the CSR layer) and the prefix."""

    node: int
    prefix: tuple[int, ...]


def _token_dtype(vocab_size: int) -> type[np.unsignedinteger] | type[np.signedinteger]:
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max else np.int32


class NameTrie:
    """Token-id sequences (each ending with `end_token`) under stable name ids; see the module docstring.

    Not safe for a mutation running concurrently with decoding (single writer).
    """

    def __init__(self, end_token: int, vocab_size: int) -> None:
        self.end_token = int(end_token)
        self.vocab_size = int(vocab_size)
        dtype = _token_dtype(vocab_size)
        # names: flat tokens + offsets for the compacted part, python tuples for names added since
        self.name_tokens: np.ndarray = np.zeros(0, dtype=dtype)
        self.name_offsets: np.ndarray = np.zeros(1, dtype=np.int64)
        self.name_refs: np.ndarray = np.zeros(0, dtype=np.int32)
        self._new_names: list[tuple[int, ...]] = []
        self._new_refs: list[int] = []
        # CSR layer (an empty root), then the overlay
        self.node_token: np.ndarray = np.zeros(1, dtype=dtype)
        self.child_start: np.ndarray = np.ones(2, dtype=np.int32)
        self.node_name: np.ndarray = np.full(1, -1, dtype=np.int32)
        self.node_live: np.ndarray = np.zeros(1, dtype=np.int32)
        self._overlay: dict[tuple[int, ...], dict[int, int]] = {}
        self._overlay_leaf: dict[tuple[int, ...], int] = {}
        self._max_length: int | None = 0

    # --- names -----------------------------------------------------------------------------

    @property
    def num_names(self) -> int:
        """Name ids ever assigned (live or not)."""
        return len(self.name_refs) + len(self._new_refs)

    @property
    def num_live(self) -> int:
        """Names with at least one reference."""
        return int(self.node_live[0]) + sum(self._overlay.get((), {}).values())

    def sequence(self, name_id: int) -> tuple[int, ...]:
        """The token ids of a name, end token included."""
        base = len(self.name_refs)
        if name_id >= base:
            return self._new_names[name_id - base]
        start, stop = self.name_offsets[name_id], self.name_offsets[name_id + 1]
        return tuple(int(t) for t in self.name_tokens[start:stop])

    def refs(self, name_id: int) -> int:
        """How many references (documents) a name has; 0 once released by all."""
        base = len(self.name_refs)
        return self._new_refs[name_id - base] if name_id >= base else int(self.name_refs[name_id])

    def _add_refs(self, name_id: int, delta: int) -> int:
        base = len(self.name_refs)
        if name_id >= base:
            self._new_refs[name_id - base] += delta
            return self._new_refs[name_id - base]
        self.name_refs[name_id] += delta
        return int(self.name_refs[name_id])

    def find(self, tokens: Sequence[int]) -> int | None:
        """The id of the name with exactly these tokens (end token included), live or not."""
        seq = tuple(int(t) for t in tokens)
        node = 0
        for token in seq:
            node = self._csr_child(node, token)
            if node < 0:
                return self._overlay_leaf.get(seq)
        name = int(self.node_name[node])
        return name if name >= 0 else self._overlay_leaf.get(seq)

    def insert(self, tokens: Sequence[int]) -> int:
        """Add one reference to the name `tokens` (the end token is appended); returns its id.

        Raises:
            InvalidInput: `tokens` is empty, holds the end token, or an id outside the vocabulary.
        """
        seq = tuple(int(t) for t in tokens)
        if not seq:
            raise InvalidInput("a name must have at least one token")
        if self.end_token in seq or min(seq) < 0 or max(seq) >= self.vocab_size:
            raise InvalidInput(f"name tokens must be in [0, {self.vocab_size}) and exclude the end token")
        seq += (self.end_token,)
        name = self.find(seq)
        if name is None:
            name = self.num_names
            self._new_names.append(seq)
            self._new_refs.append(0)
            self._overlay_leaf[seq] = name
            self._max_length = max(self.max_length, len(seq))
        if self._add_refs(name, 1) == 1:
            self._set_live(seq, +1)
        return name

    def release(self, name_id: int) -> None:
        """Drop one reference; at zero the name can no longer be decoded. Unused ids are ignored."""
        if not 0 <= name_id < self.num_names or self.refs(name_id) == 0:
            return
        if self._add_refs(name_id, -1) == 0:
            self._set_live(self.sequence(name_id), -1)

    def _set_live(self, seq: tuple[int, ...], delta: int) -> None:
        """Count a name in (+1) or out (-1) of decoding, in whichever layer holds its path."""
        path = [0]
        for token in seq:
            child = self._csr_child(path[-1], token)
            if child < 0:
                break
            path.append(child)
        if len(path) == len(seq) + 1 and self.node_name[path[-1]] >= 0:
            self.node_live[np.asarray(path)] += delta
            return
        for depth in range(len(seq)):
            children = self._overlay.setdefault(seq[:depth], {})
            count = children.get(seq[depth], 0) + delta
            if count > 0:
                children[seq[depth]] = count
            else:
                children.pop(seq[depth], None)
                if not children:
                    del self._overlay[seq[:depth]]

    # --- decoding --------------------------------------------------------------------------

    def root(self) -> TrieState:
        return TrieState(0, ())

    def _csr_child(self, node: int, token: int) -> int:
        if node < 0:
            return -1
        start, stop = int(self.child_start[node]), int(self.child_start[node + 1])
        if start == stop:
            return -1
        at = start + int(np.searchsorted(self.node_token[start:stop], token))
        return at if at < stop and int(self.node_token[at]) == token else -1

    def next_tokens(self, state: TrieState) -> np.ndarray:
        """Tokens that continue `state` towards at least one live name, `(n,)` int64 (sorted if CSR-only)."""
        tokens = np.zeros(0, dtype=np.int64)
        if state.node >= 0:
            start, stop = int(self.child_start[state.node]), int(self.child_start[state.node + 1])
            live = self.node_live[start:stop] > 0
            tokens = self.node_token[start:stop][live].astype(np.int64)
        extra = self._overlay.get(state.prefix) if self._overlay else None
        if extra:
            tokens = np.union1d(tokens, np.fromiter(extra, dtype=np.int64, count=len(extra)))
        return tokens

    def advance(self, state: TrieState, token: int) -> TrieState:
        """The state after `token` (which must be one of `next_tokens(state)`)."""
        return TrieState(self._csr_child(state.node, token), (*state.prefix, int(token)))

    def name_at(self, state: TrieState) -> int:
        """The name id completed at `state` (after its end token); -1 if none."""
        if state.node >= 0 and self.node_name[state.node] >= 0:
            return int(self.node_name[state.node])
        return self._overlay_leaf.get(state.prefix, -1)

    @property
    def max_length(self) -> int:
        """Tokens in the longest name ever inserted, end token included (bounds the decoding steps)."""
        if self._max_length is None:
            lengths = np.diff(self.name_offsets)
            self._max_length = max([int(lengths.max()) if len(lengths) else 0, *map(len, self._new_names)])
        return self._max_length

    # --- compaction and files --------------------------------------------------------------

    def compact(self) -> None:
        """Rebuild the CSR layer from every live name and empty the overlay (name ids are kept)."""
        if not self._new_names and int(self.node_live[0]) == int(np.count_nonzero(self.node_name >= 0)):
            return  # no overlay and no dead name in the CSR layer
        refs = np.concatenate([self.name_refs, np.asarray(self._new_refs, dtype=np.int32)])
        lengths = np.concatenate(
            [np.diff(self.name_offsets), np.asarray([len(s) for s in self._new_names], dtype=np.int64)]
        )
        flat = self.name_tokens.astype(np.int64)
        if self._new_names:
            flat = np.concatenate(
                [flat, np.fromiter((t for s in self._new_names for t in s), dtype=np.int64)]
            )
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self.name_tokens = flat.astype(self.node_token.dtype)
        self.name_offsets, self.name_refs = offsets, refs
        self._new_names, self._new_refs = [], []
        self._overlay, self._overlay_leaf = {}, {}
        live = np.flatnonzero(refs > 0)
        self.node_token, self.child_start, self.node_name, self.node_live = _build_csr(
            flat, offsets, live, self.node_token.dtype
        )

    def compact_if_large(self) -> None:
        """Compact once the overlay holds more than an eighth of the compacted names (and over 1,024)."""
        if len(self._new_names) > max(1024, len(self.name_refs) // 8):
            self.compact()

    @property
    def nbytes(self) -> int:
        """Bytes of the trie and its name table (arrays; an uncompacted overlay is not counted)."""
        return sum(int(getattr(self, name).nbytes) for name in _FILES)

    def memory_bytes(self) -> int:
        """Bytes held in memory: the arrays not memory-mapped, plus an estimate of the overlay."""
        overlay = sum(getsizeof(n) for n in self._new_names) + 8 * len(self._new_refs)
        overlay += sum(getsizeof(p) + getsizeof(c) for p, c in self._overlay.items())
        return array_bytes(*(getattr(self, name) for name in _FILES)) + overlay

    def save(self, folder: Path) -> None:
        """Compact, then write one `.npy` per array into `folder`, plus the end token and vocabulary."""
        self.compact()
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            np.save(folder / f"{name}.npy", getattr(self, name))
        np.save(folder / "meta.npy", np.asarray([self.end_token, self.vocab_size], dtype=np.int64))

    @classmethod
    def from_names(
        cls, names: Sequence[Sequence[int]], end_token: int, vocab_size: int
    ) -> tuple[Self, np.ndarray]:
        """Build a compacted trie in one vectorised pass (no overlay); the end token is appended.

        Returns:
            The trie, and each input's name id `(len(names),)` int32: equal sequences share one id,
            whose reference count is how often it appears.

        Raises:
            InvalidInput: a name is empty, holds the end token, or an id outside the vocabulary.
        """
        trie = cls(end_token, vocab_size)
        if not names:
            return trie, np.zeros(0, dtype=np.int32)
        lengths = np.fromiter((len(n) + 1 for n in names), dtype=np.int64, count=len(names))
        flat = np.fromiter(
            (t for n in names for t in (*n, end_token)), dtype=np.int64, count=int(lengths.sum())
        )
        ends = np.cumsum(lengths) - 1
        inner = np.ones(len(flat), dtype=bool)
        inner[ends] = False
        if (
            (lengths < 2).any()
            or (flat[inner] == end_token).any()
            or flat.min() < 0
            or flat.max() >= vocab_size
        ):
            raise InvalidInput(f"name tokens must be in [0, {vocab_size}) and exclude the end token")
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        matrix, order, sorted_lengths = _sorted_matrix(flat, offsets, np.arange(len(names)))
        first = np.ones(len(names), dtype=bool)
        first[1:] = (matrix[1:] != matrix[:-1]).any(axis=1)
        group = np.cumsum(first) - 1
        ids = np.empty(len(names), dtype=np.int32)
        ids[order] = group
        unique = matrix[first]
        unique_lengths = sorted_lengths[first]
        trie.name_tokens = unique[unique >= 0].astype(trie.node_token.dtype)
        trie.name_offsets = np.concatenate([[0], np.cumsum(unique_lengths)]).astype(np.int64)
        trie.name_refs = np.bincount(group).astype(np.int32)
        trie._max_length = int(unique_lengths.max())
        trie.node_token, trie.child_start, trie.node_name, trie.node_live = _build_csr(
            trie.name_tokens.astype(np.int64),
            trie.name_offsets,
            np.arange(len(unique)),
            trie.node_token.dtype,
        )
        return trie, ids

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Memory-map a saved trie (live counts and references copy-on-write: the files never change).

        Raises:
            CorruptIndex: a file is missing or the arrays disagree.
        """
        try:
            end_token, vocab_size = (int(v) for v in np.load(folder / "meta.npy"))
            trie = cls(end_token, vocab_size)
            trie._max_length = None
            for name in _FILES:
                setattr(
                    trie, name, np.load(folder / f"{name}.npy", mmap_mode="c" if name in _MUTABLE else "r")
                )
        except (OSError, ValueError) as exc:
            raise CorruptIndex(f"{folder}: unreadable name trie: {exc}") from exc
        nodes = len(trie.node_token)
        if not (
            len(trie.child_start) == nodes + 1
            and len(trie.node_name) == len(trie.node_live) == nodes
            and len(trie.name_offsets) == len(trie.name_refs) + 1
            and int(trie.name_offsets[-1]) == len(trie.name_tokens)
        ):
            raise CorruptIndex(f"{folder}: name trie arrays have inconsistent lengths")
        return trie


def _build_csr(
    flat: np.ndarray, offsets: np.ndarray, names: np.ndarray, token_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays for the names `names` (ids into `offsets`), built without a Python loop over names.

    Sequences are padded into a matrix `(n, max_len)` and sorted; row `r` opens a new node at depth
    `d` where its prefix of length `d + 1` differs from row `r - 1`'s. Numbering new nodes by
    (depth, row) is breadth-first, and sorted rows make every node's children consecutive.

    Returns:
        node_token, child_start, node_name, node_live (see the module docstring).
    """
    n = len(names)
    if n == 0:
        return (
            np.zeros(1, dtype=token_dtype),
            np.ones(2, dtype=np.int32),
            np.full(1, -1, dtype=np.int32),
            np.zeros(1, dtype=np.int32),
        )
    matrix, order, lengths = _sorted_matrix(flat, offsets, names)
    names = names[order]
    width = matrix.shape[1]
    valid = matrix >= 0
    differs = np.ones((n, width), dtype=bool)
    differs[1:] = matrix[1:] != matrix[:-1]
    opens = valid & np.logical_or.accumulate(differs, axis=1)
    per_depth = opens.sum(axis=0)
    first_id = 1 + np.concatenate([[0], np.cumsum(per_depth)[:-1]])
    node_of = first_id[None, :] + np.cumsum(opens, axis=0, dtype=np.int64) - 1  # node of row r at depth d
    total = 1 + int(per_depth.sum())
    r, d = np.nonzero(opens)
    ids = node_of[r, d]
    node_token = np.zeros(total, dtype=token_dtype)
    node_token[ids] = matrix[r, d]
    parent = np.zeros(total, dtype=np.int64)
    parent[ids] = np.where(d == 0, 0, node_of[r, np.maximum(d - 1, 0)])
    child_start = (1 + np.searchsorted(parent[1:], np.arange(total + 1), side="left")).astype(np.int32)
    node_name = np.full(total, -1, dtype=np.int32)
    node_name[node_of[np.arange(n), lengths - 1]] = names
    node_live = np.bincount(node_of[valid], minlength=total).astype(np.int32)
    node_live[0] = n
    return node_token, child_start, node_name, node_live


def _sorted_matrix(
    flat: np.ndarray, offsets: np.ndarray, names: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sequences `names` (ids into `offsets`) as rows of a `(n, max_len)` int64 matrix padded with
    -1, sorted lexicographically; returns the matrix, the sort order and the sorted lengths."""
    lengths = (offsets[names + 1] - offsets[names]).astype(np.int64)
    rows = np.repeat(np.arange(len(names)), lengths)
    cols = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    matrix = np.full((len(names), int(lengths.max())), -1, dtype=np.int64)
    matrix[rows, cols] = flat[np.repeat(offsets[names], lengths) + cols]
    order = np.lexsort(matrix.T[::-1])
    return matrix[order], order, lengths[order]
