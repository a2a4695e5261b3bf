"""Every point of a Qdrant collection that matches a filter, page by page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from qdrant_client import QdrantClient, models

__all__ = ["scroll_points"]


def scroll_points(
    client: QdrantClient,
    collection: str,
    flt: models.Filter | None = None,
    *,
    page: int,
    with_payload: bool | list[str] = True,
    with_vectors: bool | list[str] = False,
    lock: AbstractContextManager[Any] | None = None,
) -> Iterator[models.Record]:
    """Yield the points of `collection` matching `flt` (all of them when None), `page` per request.

    Args:
        with_payload: True, False, or the payload keys to return.
        with_vectors: True, False, or the named vectors to return.
        lock: held around each page's request (not while the caller handles the points).
    """
    offset: Any = None
    while True:
        with lock if lock is not None else nullcontext():
            records, offset = client.scroll(
                collection,
                scroll_filter=flt,
                limit=page,
                offset=offset,
                with_payload=with_payload,
                with_vectors=with_vectors,
            )
        yield from records
        if offset is None:
            return
