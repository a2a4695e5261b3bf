"""Versioned index folders with an atomic pointer to the live version.

Layout: `{root}/{name}/{version}/` holds one saved index; `{root}/{name}/CURRENT` names the live
version. A commit writes a complete new version folder first and swaps `CURRENT` last (write a temp
file, fsync, `os.replace`), so readers never see a half-written index and a crashed build leaves
the previous version serving.

Indexes that must change together (the kinds of one collection) are committed as a group instead:
each saves a version folder, then one `{root}/MANIFEST.json` names the live version of every member
and a sequence number, swapped last. Where a manifest exists it is the pointer (`CURRENT` files are
not read), so a reader sees every member at the same commit.

A loaded version stays readable for as long as its index lives: loading takes a shared `flock` on
the version folder (released when the index is garbage collected, or by the process ending), and
pruning removes only versions it can lock exclusively without waiting; a skipped version is removed
by a later commit once no reader holds it. Some files are opened lazily (a Lucene searcher opens its
segments on the first query), so keeping already-open files alive across an unlink would not be enough.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from indexers.base import Index
from indexers.errors import CorruptIndex, IndexNotFound, InvalidInput
from indexers.registry import open_index

__all__ = [
    "Manifest",
    "VersionLease",
    "atomic_write",
    "commit",
    "commit_group",
    "current_path",
    "current_version",
    "list_versions",
    "open_current",
    "open_version",
    "read_manifest",
    "remove",
    "save_version",
    "validate_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION = re.compile(r"^v(\d{6})$")
POINTER = "CURRENT"
MANIFEST = "MANIFEST.json"
STALE_STAGING_S = 3600.0


def validate_name(name: str) -> str:
    """Index names are 1-128 characters of letters, digits, `_`, `.` and `-` (no path tricks).

    Raises:
        InvalidInput: the name would escape the folder or is empty.
    """
    if not _NAME.match(name) or name in {".", ".."}:
        raise InvalidInput(
            f"invalid index name {name!r}: use 1-128 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def list_versions(root: Path, name: str) -> list[str]:
    """Committed and in-progress version folder names, oldest first."""
    folder = root / validate_name(name)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name))


@dataclass(frozen=True, slots=True)
class Manifest:
    """The live version of every member of a group committed together, and the group's sequence
    number (what the committer has applied; 0 before the first commit)."""

    versions: dict[str, str] = field(default_factory=dict)
    seq: int = 0


def read_manifest(root: Path) -> Manifest | None:
    """The group manifest under `root`, or None if the indexes there are committed one by one.

    Raises:
        CorruptIndex: the manifest is not valid JSON of the expected shape.
    """
    try:
        data = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise CorruptIndex(f"{root / MANIFEST} is not valid JSON: {exc}") from exc
    try:
        return Manifest(versions={str(k): str(v) for k, v in data["versions"].items()}, seq=int(data["seq"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptIndex(f"{root / MANIFEST} lacks its versions or seq: {exc}") from exc


def current_version(root: Path, name: str) -> str:
    """The live version of `name`: the one the group manifest names, else the one `CURRENT` names.

    Raises:
        IndexNotFound: nothing has been committed under `name`.
    """
    manifest = read_manifest(root)
    if manifest is not None:
        return _existing(root, validate_name(name), manifest.versions.get(name))
    pointer = root / validate_name(name) / POINTER
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError as exc:
        raise IndexNotFound(f"index {name!r} has no committed version under {root}") from exc
    return _existing(root, name, version)


def _existing(root: Path, name: str, version: str | None) -> str:
    """`version` if it names a version folder of `name`.

    Raises:
        IndexNotFound: `version` is None or its folder is missing.
    """
    if version is None:
        raise IndexNotFound(f"index {name!r} has no committed version under {root}")
    if not _VERSION.match(version) or not (root / name / version).is_dir():
        raise IndexNotFound(f"index {name!r}: CURRENT names missing version {version!r}")
    return version


def current_path(root: Path, name: str) -> Path:
    """Folder of the live version of `name`."""
    return root / name / current_version(root, name)


class VersionLease:
    """A shared lock on one committed version folder: pruning leaves the folder alone while it is held.

    The lock is an `flock` on the folder itself, so it holds across processes and goes away with a
    process that dies.
    """

    def __init__(self, folder: Path) -> None:
        """Lock `folder` shared.

        Raises:
            IndexNotFound: the folder is gone or is being removed.
        """
        try:
            self._fd: int | None = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise IndexNotFound(f"version folder {folder} does not exist") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            if not _same_folder(self._fd, folder):  # removed between our open and our lock
                raise IndexNotFound(f"version folder {folder} was removed")
        except BlockingIOError as exc:
            self.release()
            raise IndexNotFound(f"version folder {folder} is being removed") from exc
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Unlock the folder (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> VersionLease:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _same_folder(fd: int, folder: Path) -> bool:
    """Whether `folder` still names the directory open as `fd`."""
    try:
        here = os.stat(folder)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)


def open_version(root: Path, name: str, version: str) -> Index:
    """Load one committed version of `name`, kept readable (leased) for as long as the index lives.

    Raises:
        IndexNotFound: the version does not exist or is being removed.
    """
    folder = root / validate_name(name) / version
    lease = VersionLease(folder)
    try:
        index = open_index(folder)
    except BaseException:
        lease.release()
        raise
    weakref.finalize(index, lease.release)
    return index


def open_current(root: Path, name: str) -> Index:
    """Load the live version of `name`, kept readable for as long as the index lives.

    Raises:
        IndexNotFound: nothing has been committed under `name`.
    """
    try:
        return open_version(root, name, current_version(root, name))
    except IndexNotFound:
        # nothing committed, or newer commits pruned the version between reading CURRENT and
        # locking it: read CURRENT again
        return open_version(root, name, current_version(root, name))


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` through a fsynced temporary file and `os.replace`, then
    fsync the folder so the rename itself survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_version(index: Index, root: Path, name: str) -> str:
    """Save `index` as a new, durable version folder of `name` without making it live. Returns the version."""
    folder = root / validate_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex}"
    index.save(staging)
    for file in staging.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    existing = [int(_VERSION.match(v).group(1)) for v in list_versions(root, name)]  # type: ignore[union-attr]
    version = f"v{(max(existing) + 1 if existing else 1):06d}"
    os.replace(staging, folder / version)
    _fsync_dir(folder)
    return version


def commit(index: Index, root: Path, name: str, keep: int = 2) -> str:
    """Save `index` as a new version of `name` and make it current. Returns the version.

    Args:
        index: the index to persist.
        root: the data folder holding every index.
        name: the index name.
        keep: how many committed versions to keep (older ones are removed after the swap).
    """
    version = save_version(index, root, name)
    folder = root / name
    atomic_write(folder / POINTER, version)
    _fsync_dir(folder)
    _prune(folder, version, keep)
    return version


def commit_group(root: Path, versions: Mapping[str, str], seq: int, keep: int = 2) -> Manifest:
    """Make `versions` (saved with `save_version`) the live versions of their indexes, all at once,
    with the group's sequence number `seq`; members not named keep no live version. Returns the manifest.

    Args:
        root: the folder holding the group's indexes.
        versions: index name -> version folder.
        seq: what the group has applied, for whoever reads the manifest.
        keep: how many versions of each member to keep (older ones are removed after the swap).
    """
    manifest = Manifest(versions=dict(versions), seq=seq)
    atomic_write(root / MANIFEST, json.dumps({"versions": manifest.versions, "seq": seq}))
    _fsync_dir(root)
    for name, version in manifest.versions.items():
        (root / name / POINTER).unlink(missing_ok=True)  # the manifest is the pointer now
        _prune(root / name, version, keep)
    return manifest


def _prune(folder: Path, live: str, keep: int) -> None:
    """Remove stale staging leftovers (crashed builds) and all but the newest `keep` versions, except
    versions a reader holds (a later commit removes those)."""
    now = time.time()
    for leftover in folder.glob(".staging-*"):
        if now - leftover.stat().st_mtime > STALE_STAGING_S:
            shutil.rmtree(leftover, ignore_errors=True)
    versions = sorted(p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name))
    for old in versions[: max(0, len(versions) - keep)]:
        if old != live:
            _remove_unheld(folder / old)


def _remove_unheld(version: Path) -> None:
    """Delete a version folder unless a reader holds it (no waiting)."""
    try:
        fd = os.open(version, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return
    try:
        shutil.rmtree(version, ignore_errors=True)
    finally:
        os.close(fd)


def remove(root: Path, name: str) -> None:
    """Delete every version of `name`.

    Raises:
        IndexNotFound: no such index.
    """
    folder = root / validate_name(name)
    if not folder.is_dir():
        raise IndexNotFound(f"index {name!r} does not exist under {root}")
    shutil.rmtree(folder)
