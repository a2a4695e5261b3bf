"""FastAPI dependencies: settings, the app's services, the request's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from indexers.llm import LLM, load_llm
from service.catalog import Catalog
from service.docstore import DocumentStore
from service.jobs import Layout
from service.metrics import Metrics
from service.queue import JobQueue
from service.schemas import NAME_PATTERN
from service.search import Searcher
from service.security import TenantDep
from service.settings import Settings, get_settings
from service.store import IndexStore

__all__ = ["CollectionName", "LLMDep", "Services", "ServicesDep", "SettingsDep", "TenantDep", "get_llm"]


@dataclass
class Services:
    """Everything the lifespan builds, kept on `app.state.services`."""

    settings: Settings
    layout: Layout
    docs: DocumentStore
    indexes: IndexStore
    catalog: Catalog
    searcher: Searcher
    queue: JobQueue
    metrics: Metrics


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_llm(request: Request) -> LLM:
    """The configured LLM (loaded on first use, once per process); tests may override this dependency."""
    return load_llm(get_services(request).settings.llm_config)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
LLMDep = Annotated[LLM, Depends(get_llm)]
CollectionName = Annotated[str, Path(pattern=NAME_PATTERN, description="collection name")]
