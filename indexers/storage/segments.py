"""Pieces shared by stores kept as immutable segments: one array read across segments, and the
files a new version folder shares with the version it was loaded from.

A saved segment's files never change, so a new version folder hard-links them instead of writing
them again (a copy where linking fails, across filesystems): a version's data stays on disk for as
long as any version folder links it, so removing an old version never touches a newer one's data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Column", "link_or_copy", "save_array"]


def link_or_copy(source: Path, target: Path) -> None:
    """Make `target` a hard link to `source` (a copy where the filesystem refuses the link)."""
    if target.exists():
        if target.samefile(source):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def save_array(target: Path, array: np.ndarray) -> None:
    """`np.save` into a new file: an existing `target` is unlinked first, never overwritten in place
    (it may be a hard link to another version's file)."""
    target.unlink(missing_ok=True)
    np.save(target, np.ascontiguousarray(array))


class Column:
    """Read-only view of arrays laid end to end (one per segment), indexed like their concatenation
    without building it: an int, a slice or an integer array selects rows across segments."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.parts[0].shape[1:])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.parts[0].dtype

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The concatenation (reads every segment)."""
        return np.concatenate(self.parts).astype(dtype or self.dtype, copy=False)

    def __getitem__(self, key: int | np.integer[Any] | slice | np.ndarray) -> Any:
        if isinstance(key, int | np.integer):
            position = int(key) + len(self) if key < 0 else int(key)
            part = int(np.searchsorted(self.starts, position, side="right")) - 1
            return self.parts[part][position - self.starts[part]]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            first = max(int(np.searchsorted(self.starts, start, side="right")) - 1, 0)
            pieces = [
                self.parts[p][max(start - self.starts[p], 0) : stop - self.starts[p]]
                for p in range(first, len(self.parts))
                if self.starts[p] < stop
            ]
            if len(pieces) <= 1:
                return np.asarray(pieces[0]) if pieces else self.parts[0][:0]
            return np.concatenate(pieces)
        index = np.asarray(key, dtype=np.int64)
        owners = np.searchsorted(self.starts, index, side="right") - 1
        out = np.empty((len(index), *self.parts[0].shape[1:]), dtype=self.dtype)
        for p in np.unique(owners):
            chosen = owners == p
            out[chosen] = self.parts[p][index[chosen] - self.starts[p]]
        return out
