"""The FastAPI application: `create_app(settings)`; `app` for `uvicorn service.api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.api.errors import register_exception_handlers
from service.api.metrics import Metrics
from service.api.middleware import BodyLimit, RequestContext
from service.api.routes import collections, documents, health, jobs, memory, reports, search
from service.api.routes import compress as compress_routes
from service.console.routes import install_console
from service.core.recovery import RecoveryLoop, recover
from service.core.services import build_services
from service.schemas.common import MAXIMUM_FROM
from service.settings import Settings, get_settings

__all__ = ["app", "bound_by_settings", "create_app", "operation_id"]

logger = logging.getLogger(__name__)


def operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids as `{tag}-{name}`, e.g. `collections-create`."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def bound_by_settings(node: Any, settings: Settings) -> Any:
    """`node` (an OpenAPI document, changed in place) with the `maximum` of every schema marked
    `x-maximum-from` set to the value of the setting it names, so the schema says what the server
    accepts."""
    if isinstance(node, dict):
        if MAXIMUM_FROM in node:
            node["maximum"] = getattr(settings, node[MAXIMUM_FROM])
        for value in node.values():
            bound_by_settings(value, settings)
    elif isinstance(node, list):
        for value in node:
            bound_by_settings(value, settings)
    return node


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Tessera API for `settings` (default: from the environment). Nothing heavy happens until
        the lifespan starts: then the document store and job queue open, and writes a crash left
    unapplied are applied (`service.core.recovery`); indexes load on first use."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, on_submit=metrics.job_submitted)
        app.state.services = services
        recover(services)
        recovery = RecoveryLoop(services, settings.recovery_every_s)
        if settings.recovery_every_s > 0:
            recovery.start()
        logger.info("tessera API ready (%s mode, data in %s)", settings.mode, settings.data_dir)
        try:
            yield
        finally:
            recovery.stop()
            services.close()

    app = FastAPI(
        title="Tessera",
        version=version("tessera"),
        description="Retrieval over token-level representations: collections, documents, search, jobs.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.metrics = metrics

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = bound_by_settings(FastAPI.openapi(app), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.dependency_overrides[get_settings] = lambda: settings
    register_exception_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContext, metrics=metrics)  # outermost: ids and metrics cover 413s too
    for module in (collections, documents, search, jobs, health, memory):
        app.include_router(module.router)
    app.include_router(health.metrics_router)
    app.include_router(reports.router)
    install_console(app)
    app.include_router(compress_routes.router)
    return app


app = create_app()
