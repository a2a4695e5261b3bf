"""Scrolling a Qdrant collection: every matching point across pages, the lock held per request."""

from __future__ import annotations

import threading

from qdrant_client import QdrantClient, models

from indexers.storage.qdrant_scroll import scroll_points


class CountingLock:
    """A lock that counts how often it was taken."""

    def __init__(self) -> None:
        self.lock, self.taken = threading.Lock(), 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.taken += 1

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_scroll_points_pages_through_the_matching_points() -> None:
    client = QdrantClient(location=":memory:")
    client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(
        "c",
        [models.PointStruct(id=i, vector=[1.0, float(i)], payload={"even": i % 2 == 0}) for i in range(7)],
        wait=True,
    )
    lock = CountingLock()
    everything = list(scroll_points(client, "c", page=2, lock=lock))
    assert sorted(p.id for p in everything) == list(range(7)) and lock.taken == 4
    assert all(p.vector is None and p.payload is not None for p in everything)
    even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    found = list(scroll_points(client, "c", even, page=3, with_payload=False, with_vectors=True))
    assert sorted(p.id for p in found) == [0, 2, 4, 6]
    assert all(p.payload is None and p.vector is not None for p in found)
