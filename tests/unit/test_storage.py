"""Versioned storage: atomic CURRENT swap, crashed builds leave the live version serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers import Doc, create_index, parse_config
from indexers.errors import IndexNotFound, InvalidInput
from indexers.storage.versions import (
    commit,
    current_version,
    list_versions,
    open_current,
    remove,
    validate_name,
)


def small_index(n: int):  # type: ignore[no-untyped-def]
    index = create_index(parse_config({"kind": "exact", "encoder": {"model": "fake:hash"}}))
    index.build([Doc(id=f"d{i}", text=f"document number {i} about topic {i % 3}") for i in range(n)])
    return index


def test_commit_creates_versions_and_keeps_two(tmp_path: Path) -> None:
    for n in (3, 4, 5):
        commit(small_index(n), tmp_path, "c")
    assert current_version(tmp_path, "c") == "v000003"
    assert list_versions(tmp_path, "c") == ["v000002", "v000003"]
    assert open_current(tmp_path, "c").num_docs == 5


def test_crash_during_save_leaves_current_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit(small_index(3), tmp_path, "c")
    broken = small_index(7)

    def explode(path: Path) -> None:
        (path / "partial.bin").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(broken, "_save_payload", explode)
    with pytest.raises(OSError):
        commit(broken, tmp_path, "c")
    assert current_version(tmp_path, "c") == "v000001"
    assert open_current(tmp_path, "c").num_docs == 3


def test_missing_index_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound):
        current_version(tmp_path, "nope")
    with pytest.raises(IndexNotFound):
        remove(tmp_path, "nope")
    for bad in ("../x", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(InvalidInput):
            validate_name(bad)


def test_remove_deletes_every_version(tmp_path: Path) -> None:
    commit(small_index(2), tmp_path, "c")
    remove(tmp_path, "c")
    with pytest.raises(IndexNotFound):
        open_current(tmp_path, "c")
