"""FastAPI dependencies: settings, the app's services, the request's tenant, the LLM."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from indexers.models.llm import LLM, load_llm
from service.api.security import TenantDep
from service.core.services import Services
from service.schemas.common import NAME_PATTERN
from service.settings import Settings, get_settings

__all__ = ["CollectionName", "LLMDep", "ServicesDep", "SettingsDep", "TenantDep", "get_llm", "get_services"]


def get_services(request: Request) -> Services:
    """The services the lifespan built, kept on `app.state.services`."""
    services: Services = request.app.state.services
    return services


def get_llm(request: Request) -> LLM:
    """The configured LLM (loaded on first use, once per process); tests may override this dependency."""
    return load_llm(get_services(request).settings.llm_config)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
LLMDep = Annotated[LLM, Depends(get_llm)]
CollectionName = Annotated[str, Path(pattern=NAME_PATTERN, description="collection name")]
