"""Document texts and payloads in Qdrant: the source of truth for what a collection holds.

One Qdrant collection per (tenant, collection), named `{tenant}.{collection}` (tenant names have
no dots, so the split is unambiguous). Points carry no vectors, only the payload
`{doc_id, text, title, metadata}`; point ids are UUID5s of the document id. Only the API process
opens the store: Qdrant local mode locks its folder to one process, so workers get documents
from the collections' write logs instead (`service.writelog`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from indexers.base import Doc
from indexers.storage.qdrant_scroll import scroll_points

__all__ = ["DocumentStore", "StoredDoc", "point_id"]

NAMESPACE = uuid.UUID("6f1f7c6e-54a4-4d8e-9a55-3f3a7c1b2e10")
PAGE = 1024


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """A document as stored: id, text, title and metadata."""

    id: str
    text: str
    title: str | None
    metadata: dict[str, Any]

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None) -> StoredDoc:
        payload = payload or {}
        return cls(
            id=str(payload.get("doc_id", "")),
            text=str(payload.get("text", "")),
            title=payload.get("title"),
            metadata=dict(payload.get("metadata") or {}),
        )

    def to_doc(self) -> Doc:
        return Doc(id=self.id, text=self.text, title=self.title, metadata=self.metadata)


def point_id(doc_id: str) -> str:
    """The Qdrant point id of a document id."""
    return str(uuid.uuid5(NAMESPACE, doc_id))


class DocumentStore:
    """Tenant-scoped document storage over a Qdrant server (`url`) or Qdrant local mode (`path`)."""

    def __init__(
        self, *, url: str | None = None, api_key: str | None = None, path: Path | None = None
    ) -> None:
        if url:
            self.client = QdrantClient(url=url, api_key=api_key)
        else:
            if path is None:
                raise ValueError("a Qdrant URL or a local path is required")
            path.mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=str(path))
        # Qdrant local mode is not safe for concurrent calls from the API's thread pool.
        self._lock = threading.RLock()

    @staticmethod
    def _name(tenant: str, collection: str) -> str:
        return f"{tenant}.{collection}"

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        with self._lock:
            self.client.get_collections()

    def create(self, tenant: str, collection: str) -> None:
        """Create (or empty, if a leftover exists) the collection's store."""
        name = self._name(tenant, collection)
        with self._lock:
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
            self.client.create_collection(name, vectors_config={})

    def drop(self, tenant: str, collection: str) -> None:
        with self._lock:
            self.client.delete_collection(self._name(tenant, collection))

    def count(self, tenant: str, collection: str) -> int:
        with self._lock:
            return self.client.count(self._name(tenant, collection), exact=True).count

    def upsert(self, tenant: str, collection: str, docs: Sequence[Doc]) -> None:
        points = [
            models.PointStruct(
                id=point_id(doc.id),
                vector={},
                payload={"doc_id": doc.id, "text": doc.text, "title": doc.title, "metadata": doc.metadata},
            )
            for doc in docs
        ]
        name = self._name(tenant, collection)
        with self._lock:
            for start in range(0, len(points), PAGE):
                self.client.upsert(name, points[start : start + PAGE], wait=True)

    def get(self, tenant: str, collection: str, ids: Sequence[str]) -> dict[str, StoredDoc]:
        """The stored documents among `ids` (missing ids are left out)."""
        if not ids:
            return {}
        with self._lock:
            records = self.client.retrieve(self._name(tenant, collection), [point_id(i) for i in ids])
        docs = (StoredDoc.from_payload(record.payload) for record in records)
        return {doc.id: doc for doc in docs}

    def select(
        self, tenant: str, collection: str, ids: Sequence[str], flt: models.Filter | None
    ) -> dict[str, StoredDoc]:
        """The stored documents among `ids` that match `flt` (all stored ones when `flt` is None)."""
        if flt is None or not ids:
            return self.get(tenant, collection, ids)
        query = models.Filter(must=[models.HasIdCondition(has_id=[point_id(i) for i in ids]), flt])
        with self._lock:
            records, _ = self.client.scroll(
                self._name(tenant, collection), scroll_filter=query, limit=len(ids), with_payload=True
            )
        docs = (StoredDoc.from_payload(record.payload) for record in records)
        return {doc.id: doc for doc in docs}

    def scan(
        self, tenant: str, collection: str, flt: models.Filter | None = None, with_payload: bool = True
    ) -> Iterator[StoredDoc]:
        """Every stored document (matching `flt`), page by page."""
        records = scroll_points(
            self.client,
            self._name(tenant, collection),
            flt,
            page=PAGE,
            with_payload=True if with_payload else ["doc_id"],
            lock=self._lock,
        )
        yield from (StoredDoc.from_payload(record.payload) for record in records)

    def delete(self, tenant: str, collection: str, ids: Sequence[str]) -> None:
        name = self._name(tenant, collection)
        with self._lock:
            for start in range(0, len(ids), PAGE):
                selector = models.PointIdsList(points=[point_id(i) for i in ids[start : start + PAGE]])
                self.client.delete(name, points_selector=selector, wait=True)
