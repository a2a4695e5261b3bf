"""Collections of one tenant: their specs on disk, their document stores and their stats."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from indexers.configs import IndexConfig
from indexers.errors import IndexExists, IndexNotFound, InvalidConfig
from indexers.storage.versions import atomic_write, current_path, validate_name
from service.core.docstore import DocumentStore
from service.core.errors import Conflict
from service.core.store import IndexStore
from service.jobs import CollectionLocked, CollectionSpec, Layout, collection_lock

__all__ = ["Catalog", "folder_size"]


def folder_size(path: Path) -> int:
    """Total bytes of the files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Catalog:
    """Create, list, read and delete collections, keeping disk, Qdrant and loaded indexes in step."""

    def __init__(self, layout: Layout, docs: DocumentStore, indexes: IndexStore) -> None:
        self.layout = layout
        self.docs = docs
        self.indexes = indexes

    def create(self, tenant: str, name: str, configs: Sequence[IndexConfig]) -> CollectionSpec:
        """Create an empty collection with one index per config.

        Raises:
            InvalidConfig: no config, or two configs of the same kind.
            IndexExists: the tenant already has a collection of that name.
        """
        validate_name(name)
        kinds = [config.kind for config in configs]
        if not kinds:
            raise InvalidConfig("a collection needs at least one index kind")
        if len(set(kinds)) != len(kinds):
            raise InvalidConfig(f"each kind may appear once per collection, got {kinds}")
        folder = self.layout.collection_dir(tenant, name)
        try:
            folder.mkdir(parents=True)
        except FileExistsError as exc:
            raise IndexExists(f"collection {name!r} already exists") from exc
        spec = CollectionSpec(name=name, tenant=tenant, configs=list(configs), uid=uuid.uuid4().hex)
        try:
            self.docs.create(tenant, name)
            atomic_write(self.layout.spec_file(tenant, name), spec.model_dump_json(indent=2))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return spec

    def get(self, tenant: str, name: str) -> CollectionSpec:
        """The collection's spec.

        Raises:
            IndexNotFound: the tenant has no such collection.
        """
        validate_name(name)
        spec = self.layout.read_spec(tenant, name)
        if spec is None:
            raise IndexNotFound(f"collection {name!r} does not exist")
        return spec

    def list(self, tenant: str) -> list[CollectionSpec]:
        folder = self.layout.tenant_dir(tenant)
        if not folder.is_dir():
            return []
        specs = (self.layout.read_spec(tenant, child.name) for child in sorted(folder.iterdir()))
        return [spec for spec in specs if spec is not None]

    def delete(self, tenant: str, name: str) -> None:
        """Delete the collection, its documents and every index version.

        Raises:
            IndexNotFound: no such collection.
            Conflict: a job is writing the collection right now.
        """
        spec = self.get(tenant, name)
        try:
            with collection_lock(self.layout.lock_file(tenant, name), blocking=False):
                # Remove the spec first: a queued job that runs later finds no collection and fails.
                self.layout.spec_file(tenant, name).unlink()
                self.docs.drop(tenant, name)
                shutil.rmtree(self.layout.collection_dir(tenant, name), ignore_errors=True)
        except CollectionLocked as exc:
            raise Conflict(
                f"collection {name!r} is being written by a job; cancel the job or retry when it ends"
            ) from exc
        self.indexes.evict(tenant, name, spec.kinds)

    def kind_size(self, spec: CollectionSpec, kind: str) -> tuple[str | None, int]:
        """The kind's current version and its size in bytes (None, 0 before the first commit)."""
        root = self.layout.index_root(spec.tenant, spec.name)
        try:
            path = current_path(root, kind)
        except IndexNotFound:
            return None, 0
        return path.name, folder_size(path)

    def require_kinds(self, spec: CollectionSpec, kinds: Sequence[str]) -> None:
        """Raise InvalidConfig naming the collection's kinds if one of `kinds` is not among them."""
        unknown = [kind for kind in kinds if spec.config_for(kind) is None]
        if unknown:
            raise InvalidConfig(
                f"collection {spec.name!r} has no index of kind {unknown[0]!r}; "
                f"its kinds: {', '.join(spec.kinds)}"
            )
