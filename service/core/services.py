"""The service's domain objects for one data folder, built once per API process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.core.catalog import Catalog
from service.core.docstore import DocumentStore
from service.core.queue import JobQueue
from service.core.search import Searcher
from service.core.store import IndexStore
from service.jobs import JobType, Layout
from service.settings import Settings

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    """Settings, paths, the document store, loaded indexes, collections, search and the job queue."""

    settings: Settings
    layout: Layout
    docs: DocumentStore
    indexes: IndexStore
    catalog: Catalog
    searcher: Searcher
    queue: JobQueue

    def close(self) -> None:
        """Close the job queue's broker connection and the document store."""
        self.queue.close()
        self.docs.close()


def build_services(settings: Settings, on_submit: Callable[[JobType], None] | None = None) -> Services:
    """Open the document store, the index store and the job queue for `settings`.

    Args:
        settings: the service settings.
        on_submit: called with the task name before each job is sent (e.g. to count jobs).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    layout = Layout(settings.data_dir)
    docs = DocumentStore(
        url=settings.qdrant_url, api_key=settings.qdrant_api_key, path=settings.data_dir / "qdrant"
    )
    indexes = IndexStore(layout, settings.index_cache_mb * 2**20)
    catalog = Catalog(layout, docs, indexes)
    return Services(
        settings=settings,
        layout=layout,
        docs=docs,
        indexes=indexes,
        catalog=catalog,
        searcher=Searcher(settings, catalog, indexes, docs),
        queue=JobQueue(settings, layout, on_submit),
    )
