"""Loaded indexes, served from each kind's live version and reloaded when a job commits a new one."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from indexers.base import Index
from indexers.errors import IndexNotFound
from indexers.storage.versions import current_version, open_version, read_manifest
from service.jobs import Layout

__all__ = ["IndexStore"]

Key = tuple[str, str, str]


class IndexStore:
    """(tenant, collection, kind) -> the loaded index of its current version.

    Every lookup reads the collection's manifest (one small file) and reloads a kind when it names a
    newer version, so a search never sees a half-built index: a job writes new version folders and
    replaces the manifest only at the end. `get_all` reads the manifest once for several kinds, so
    they come from the same commit. Loads happen once per version, under a per-key lock.

    A loaded index holds its version folder readable (`open_version`): commits do not prune it while
    the store, or a search that still runs on it, keeps it. The store drops an index as soon as it
    loads a newer version or the collection goes; the lock goes with the last reference.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._loaded: dict[Key, tuple[str, Index]] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: Key) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get_all(self, tenant: str, collection: str, kinds: Iterable[str]) -> dict[str, Index | None]:
        """The live index of each kind, all from one commit (None: the kind has no version yet)."""
        root = self.layout.index_root(tenant, collection)
        manifest = read_manifest(root)
        return {
            kind: self.get(
                tenant, collection, kind, None if manifest is None else manifest.versions.get(kind, "")
            )
            for kind in kinds
        }

    def get(self, tenant: str, collection: str, kind: str, version: str | None = None) -> Index | None:
        """The live index (or `version` of it; "" for none), or None when the kind has no committed
        version yet (nothing indexed)."""
        key = (tenant, collection, kind)
        root = self.layout.index_root(tenant, collection)
        for attempt in range(3):
            try:
                version = current_version(root, kind) if version is None or attempt else version
                if not version:
                    raise IndexNotFound(kind)
            except IndexNotFound:
                self._loaded.pop(key, None)
                return None
            loaded = self._loaded.get(key)
            if loaded is not None and loaded[0] == version:
                return loaded[1]
            with self._lock(key):
                loaded = self._loaded.get(key)
                if loaded is not None and loaded[0] == version:
                    return loaded[1]
                try:
                    index = open_version(root, kind, version)
                except IndexNotFound:
                    # Newer commits pruned this version before we locked it: read the pointer again.
                    if attempt == 2:
                        raise
                    continue
                self._loaded[key] = (version, index)
                return index
        raise IndexNotFound(f"index {kind!r} of {collection!r} kept changing while loading")

    def version(self, tenant: str, collection: str, kind: str) -> str | None:
        try:
            return current_version(self.layout.index_root(tenant, collection), kind)
        except IndexNotFound:
            return None

    def evict(self, tenant: str, collection: str, kinds: Iterable[str]) -> None:
        """Forget the loaded indexes of a collection (after it is deleted)."""
        for kind in kinds:
            self._loaded.pop((tenant, collection, kind), None)
