"""FastAPI dependencies: settings, the app's services, the request's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from indexers.models.llm import LLM, load_llm
from service.api.metrics import Metrics
from service.api.security import TenantDep
from service.core.catalog import Catalog
from service.core.docstore import DocumentStore
from service.core.queue import JobQueue
from service.core.search import Searcher
from service.core.store import IndexStore
from service.jobs import Layout
from service.schemas.all import NAME_PATTERN
from service.settings import Settings, get_settings

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
