"""Versioned storage: atomic CURRENT swap, crashed builds leave the live version serving, a version
stays readable while a reader in any process holds it."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from indexers import Doc, create_index, parse_config
from indexers.errors import IndexNotFound, InvalidInput
from indexers.storage.versions import (
    VersionLease,
    commit,
    current_version,
    list_versions,
    open_current,
    open_version,
    remove,
    validate_name,
)

ROOT = Path(__file__).resolve().parents[3]


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


def test_a_held_version_outlives_newer_commits_and_goes_once_released(tmp_path: Path) -> None:
    commit(small_index(3), tmp_path, "c")
    held = open_current(tmp_path, "c")
    commit(small_index(4), tmp_path, "c")
    commit(small_index(5), tmp_path, "c")
    assert list_versions(tmp_path, "c") == ["v000001", "v000002", "v000003"]  # v000001 is read
    assert [h.doc_id for h in held.search(["document number 2"], k=1)[0]] == ["d2"]
    del held
    gc.collect()
    commit(small_index(6), tmp_path, "c")
    assert list_versions(tmp_path, "c") == ["v000003", "v000004"]


def test_a_version_held_by_another_process_is_kept_until_it_exits(tmp_path: Path) -> None:
    commit(small_index(3), tmp_path, "c")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    try:
        assert reader.stdout.readline().strip() == "loaded"
        commit(small_index(4), tmp_path, "c")
        commit(small_index(5), tmp_path, "c")
        assert "v000001" in list_versions(tmp_path, "c")
        reader.stdin.write("search\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "d2"
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    commit(small_index(6), tmp_path, "c")
    assert list_versions(tmp_path, "c") == ["v000003", "v000004"]


READER = """
import sys
from pathlib import Path
from indexers.storage.versions import open_current
index = open_current(Path(sys.argv[1]), "c")
print("loaded", flush=True)
sys.stdin.readline()
print(index.search(["document number 2"], k=1)[0][0].doc_id, flush=True)
sys.stdin.readline()
"""


def test_a_lease_on_a_missing_or_removed_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound):
        VersionLease(tmp_path / "c" / "v000001")
    commit(small_index(2), tmp_path, "c")
    with pytest.raises(IndexNotFound):
        open_version(tmp_path, "c", "v000002")
    with VersionLease(tmp_path / "c" / "v000001"):
        assert open_version(tmp_path, "c", "v000001").num_docs == 2
