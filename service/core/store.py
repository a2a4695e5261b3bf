"""Loaded indexes, served from each kind's live version and reloaded when a job commits a new one,
kept in memory up to a byte bound (least recently used first out)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from indexers.base import Index
from indexers.errors import IndexNotFound
from indexers.storage.versions import current_version, open_version, read_manifest
from service.jobs import Layout

__all__ = ["IndexStore"]

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]


@dataclass(slots=True)
class _Loaded:
    version: str
    index: Index


class IndexStore:
    """(tenant, collection, kind) -> the loaded index of its current version.

    Every lookup reads the collection's manifest (one small file) and reloads a kind when it names a
    newer version, so a search never sees a half-built index: a job writes new version folders and
    replaces the manifest only at the end. `get_all` reads the manifest once for several kinds, so
    they come from the same commit. Loads happen once per version, under a per-key lock.

    Memory: after each load the store measures every loaded index (`Index.memory_bytes`, memory-mapped
    pages excluded) and, while the total exceeds `max_bytes`, forgets the least recently used one
    (never the one just loaded); the next lookup of a forgotten index loads it again.

    A loaded index holds its version folder readable (`open_version`): commits do not prune it while
    the store, or a search that still runs on it, keeps it. The store drops an index as soon as it
    loads a newer version, evicts it, or the collection goes; a search running on it keeps it alive,
    and the lock goes with the last reference.
    """

    def __init__(self, layout: Layout, max_bytes: int | None = None) -> None:
        """`max_bytes`: bound on the loaded indexes' `memory_bytes` (None: no bound)."""
        self.layout = layout
        self.max_bytes = max_bytes
        self._loaded: OrderedDict[Key, _Loaded] = OrderedDict()  # least recently used first
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
                self._forget(key)
                return None
            cached = self._cached(key, version)
            if cached is not None:
                return cached
            with self._lock(key):
                cached = self._cached(key, version)
                if cached is not None:
                    return cached
                try:
                    index = open_version(root, kind, version)
                except IndexNotFound:
                    # Newer commits pruned this version before we locked it: read the pointer again.
                    if attempt == 2:
                        raise
                    continue
                with self._guard:
                    self._loaded[key] = _Loaded(version, index)
                    self._loaded.move_to_end(key)
                self._bound(key)
                return index
        raise IndexNotFound(f"index {kind!r} of {collection!r} kept changing while loading")

    def _cached(self, key: Key, version: str) -> Index | None:
        """The loaded index of `key` at `version` (now the most recently used), or None."""
        with self._guard:
            loaded = self._loaded.get(key)
            if loaded is None or loaded.version != version:
                return None
            self._loaded.move_to_end(key)
            return loaded.index

    def _forget(self, key: Key) -> None:
        with self._guard:
            self._loaded.pop(key, None)

    def _bound(self, keep: Key) -> None:
        """Forget least recently used indexes, except `keep`, while their bytes exceed `max_bytes`."""
        if self.max_bytes is None:
            return
        with self._guard:
            entries = list(self._loaded.items())
        sizes = {key: loaded.index.memory_bytes() for key, loaded in entries}  # outside the guard
        total = sum(sizes.values())
        with self._guard:
            for key, _ in entries:
                if total <= self.max_bytes:
                    break
                if key == keep or key not in self._loaded:
                    continue
                del self._loaded[key]
                total -= sizes[key]
                logger.info(
                    "evicted index %s (%d bytes; %d bytes stay loaded)", "/".join(key), sizes[key], total
                )

    def version(self, tenant: str, collection: str, kind: str) -> str | None:
        try:
            return current_version(self.layout.index_root(tenant, collection), kind)
        except IndexNotFound:
            return None

    def evict(self, tenant: str, collection: str, kinds: Iterable[str]) -> None:
        """Forget the loaded indexes of a collection (after it is deleted)."""
        for kind in kinds:
            self._forget((tenant, collection, kind))
