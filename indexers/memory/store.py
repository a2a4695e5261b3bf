"""Where one agent's memory lives: a Qdrant collection of units with three views (a dense vector, a
BM25 sparse vector, symbolic payload fields) and a collection of the raw turns.

Qdrant local mode locks its folder to one process, and both the API (writes, queries) and a Celery
worker (extraction, consolidation) touch an agent's memory. So every operation opens the store
inside `MemoryStore.open()`: an exclusive `flock` on the agent's folder is taken, then the client
(local folder, or the Qdrant server when `url` is set), and both are released when the block ends.
The lock also makes read-check-write sequences atomic against other writers in server mode.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from indexers.memory.text import symbols
from indexers.memory.units import MemoryUnit, Turn
from indexers.storage.qdrant_scroll import scroll_points
from indexers.storage.versions import atomic_write

__all__ = ["DENSE", "LEXICAL", "MemoryStore", "StoreSession", "read_meta", "unit_from", "unit_payload"]

NAMESPACE = uuid.UUID("9a3e2f1c-7b6d-4e5a-8c9b-0d1e2f3a4b5c")
PAGE = 512
DENSE = "dense"
LEXICAL = "lexical"


def _point(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


def _epoch(time: str | None) -> float | None:
    if not time:
        return None
    try:
        return datetime.fromisoformat(time).timestamp()
    except ValueError:
        return None


def unit_payload(unit: MemoryUnit) -> dict[str, Any]:
    """The unit as a Qdrant payload, plus lower-cased symbol lists for payload filters."""
    payload = unit.model_dump(mode="json")
    payload["symbols"] = sorted(symbols([*unit.entities, *unit.persons]))
    payload["epoch"] = _epoch(unit.time)
    return payload


def unit_from(payload: dict[str, Any] | None) -> MemoryUnit:
    fields = MemoryUnit.model_fields
    return MemoryUnit.model_validate({k: v for k, v in (payload or {}).items() if k in fields})


class StoreSession:
    """Operations on one agent's memory while its lock is held (see `MemoryStore.open`)."""

    def __init__(self, client: QdrantClient, prefix: str, meta_file: Path) -> None:
        self.client = client
        self.units = f"{prefix}units"
        self.turns = f"{prefix}turns"
        self.meta_file = meta_file

    def ensure(self, dim: int) -> None:
        """Create the agent's collections if they do not exist yet."""
        if not self.client.collection_exists(self.units):
            self.client.create_collection(
                self.units,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
        if not self.client.collection_exists(self.turns):
            self.client.create_collection(self.turns, vectors_config={})

    def exists(self) -> bool:
        return self.meta_file.exists() and self.client.collection_exists(self.units)

    # meta: counters and the entities seen so far (for the information filter)
    def meta(self) -> dict[str, Any]:
        return read_meta(self.meta_file)

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.meta_file, json.dumps(meta, sort_keys=True))

    # turns
    def add_turns(self, turns: Sequence[Turn]) -> None:
        """Store turns as pending (re-adding a turn id replaces it and makes it pending again)."""
        meta = self.meta()
        points = []
        for turn in turns:
            meta["turns_seq"] += 1
            payload = {**turn.model_dump(mode="json"), "seq": meta["turns_seq"], "pending": True}
            points.append(models.PointStruct(id=_point(turn.id), vector={}, payload=payload))
        for start in range(0, len(points), PAGE):
            self.client.upsert(self.turns, points[start : start + PAGE], wait=True)
        self.write_meta(meta)

    def pending_turns(self) -> list[tuple[Turn, int]]:
        """Pending turns with their arrival sequence numbers, in arrival order."""
        flt = models.Filter(must=[models.FieldCondition(key="pending", match=models.MatchValue(value=True))])
        records = scroll_points(self.client, self.turns, flt, page=PAGE)
        out = [(Turn.model_validate(_turn_fields(r.payload)), int((r.payload or {})["seq"])) for r in records]
        return sorted(out, key=lambda pair: pair[1])

    def mark_done(self, turns: Sequence[tuple[Turn, int]]) -> None:
        """Mark turns processed, unless they were re-added (a new sequence number) meanwhile."""
        current = {t.id: seq for t, seq in self.get_turns_seq([t.id for t, _ in turns])}
        done: list[models.ExtendedPointId] = [_point(t.id) for t, seq in turns if current.get(t.id) == seq]
        if done:
            self.client.set_payload(self.turns, {"pending": False}, points=done, wait=True)

    def get_turns_seq(self, ids: Sequence[str]) -> list[tuple[Turn, int]]:
        records = self.client.retrieve(self.turns, [_point(i) for i in ids], with_payload=True)
        return [
            (Turn.model_validate(_turn_fields(r.payload)), int((r.payload or {})["seq"])) for r in records
        ]

    def get_turns(self, ids: Sequence[str]) -> list[Turn]:
        return [turn for turn, _ in self.get_turns_seq(ids)] if ids else []

    def count_turns(self) -> int:
        return self.client.count(self.turns, exact=True).count

    # units
    def upsert_units(
        self, units: Sequence[MemoryUnit], dense: np.ndarray, lexical: Sequence[tuple[list[int], list[float]]]
    ) -> None:
        points = []
        for unit, vector, (ids, weights) in zip(units, dense, lexical, strict=True):
            vectors: dict[str, Any] = {DENSE: vector.tolist()}
            if ids:
                vectors[LEXICAL] = models.SparseVector(indices=ids, values=weights)
            points.append(models.PointStruct(id=unit.id, vector=vectors, payload=unit_payload(unit)))
        for start in range(0, len(points), PAGE):
            self.client.upsert(self.units, points[start : start + PAGE], wait=True)

    def set_fields(self, ids: Sequence[str], fields: dict[str, Any]) -> None:
        points: list[models.ExtendedPointId] = list(ids)
        if points:
            self.client.set_payload(self.units, fields, points=points, wait=True)

    def get_units(self, ids: Sequence[str], with_vectors: bool = False) -> list[tuple[MemoryUnit, Any]]:
        if not ids:
            return []
        records = self.client.retrieve(
            self.units, list(ids), with_payload=True, with_vectors=[DENSE] if with_vectors else False
        )
        return [(unit_from(r.payload), _dense(r.vector)) for r in records]

    def scan_units(
        self, flt: models.Filter | None = None, with_vectors: bool = False
    ) -> list[tuple[MemoryUnit, Any]]:
        records = scroll_points(
            self.client, self.units, flt, page=PAGE, with_vectors=[DENSE] if with_vectors else False
        )
        return [(unit_from(r.payload), _dense(r.vector)) for r in records]

    def count_units(self, flt: models.Filter | None = None) -> int:
        return self.client.count(self.units, count_filter=flt, exact=True).count

    def page_units(self, limit: int, offset: int) -> list[MemoryUnit]:
        """Units in a stable order (level, then creation time, then id)."""
        units = [u for u, _ in self.scan_units()]
        units.sort(key=lambda u: (u.level, u.created_at, u.id))
        return units[offset : offset + limit]

    def delete_units(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(self.units, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def search(
        self, using: str, query: Any, flt: models.Filter | None, limit: int
    ) -> list[tuple[str, float]]:
        """(unit id, score) for the best `limit` units of one vector view."""
        hits = self.client.query_points(
            self.units, query=query, using=using, query_filter=flt, limit=limit, with_payload=False
        ).points
        return [(str(hit.id), float(hit.score)) for hit in hits]


def read_meta(path: Path) -> dict[str, Any]:
    """An agent's counters and seen entities (written atomically, so readable without the lock)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    data.setdefault("turns_seq", 0)
    data.setdefault("units_since_consolidation", 0)
    data.setdefault("entities_seen", [])
    return data


def _turn_fields(payload: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (payload or {}).items() if k in Turn.model_fields}


def _dense(vector: Any) -> np.ndarray | None:
    if isinstance(vector, dict) and DENSE in vector:
        return np.asarray(vector[DENSE], dtype=np.float32)
    return None


class MemoryStore:
    """One agent's memory on disk (`root`), in Qdrant local mode under `root/qdrant` or on a server."""

    def __init__(self, root: Path, *, url: str | None = None, api_key: str | None = None, name: str) -> None:
        """Args:
        root: the agent's folder (lock, meta file, and the local Qdrant folder when `url` is None).
        url: a Qdrant server; its collections are named `memory.{name}.units` / `.turns`.
        api_key: the Qdrant server's key.
        name: unique name of the agent (e.g. `{tenant}.{agent}`) for server collection names.
        """
        self.root = root
        self.url = url
        self.api_key = api_key
        self.prefix = f"memory.{name}." if url else ""

    @contextmanager
    def open(self) -> Iterator[StoreSession]:
        """Hold the agent's exclusive lock and an open Qdrant client for the block."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if self.url:
                    client = QdrantClient(url=self.url, api_key=self.api_key)
                else:
                    client = QdrantClient(path=str(self.root / "qdrant"))
                try:
                    yield StoreSession(client, self.prefix, self.root / "meta.json")
                finally:
                    client.close()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def exists(self) -> bool:
        """Whether this agent has stored anything (cheap: no client is opened)."""
        return (self.root / "meta.json").exists()

    def units_since_consolidation(self) -> int:
        """Units written since the last consolidation (cheap: the meta file, no client, no lock)."""
        return int(read_meta(self.root / "meta.json")["units_since_consolidation"])

    def drop(self) -> None:
        """Delete everything of this agent."""
        with self.open() as session:
            for name in (session.units, session.turns):
                if session.client.collection_exists(name):
                    session.client.delete_collection(name)
            session.meta_file.unlink(missing_ok=True)
        shutil.rmtree(self.root / "qdrant", ignore_errors=True)
