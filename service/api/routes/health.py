"""Liveness, readiness and metrics."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter, Request, Response

from indexers.models.encoders import resolve_model_path
from service.api.deps import ServicesDep
from service.api.metrics import CONTENT_TYPE
from service.schemas.health import HealthPublic, ReadinessPublic

__all__ = ["health", "metrics", "metrics_router", "ready", "router"]

router = APIRouter(prefix="/v1", tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> HealthPublic:
    """Liveness: the process answers."""
    return HealthPublic(status="ok")


def _check(run: object) -> str:
    try:
        run()  # type: ignore[operator]
    except Exception as exc:  # readiness reports any failure as data
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _models_loadable(models: list[str]) -> None:
    for model in models:
        if model.startswith("fake:"):
            continue
        if not Path(resolve_model_path(model)).is_dir():
            raise FileNotFoundError(f"model {model!r} is not installed locally")


@router.get("/ready", responses={503: {"model": ReadinessPublic}})
def ready(services: ServicesDep, response: Response) -> ReadinessPublic:
    """Readiness: the broker answers, the data folder is writable, the document store answers and
    the configured models are installed."""

    def writable() -> None:
        probe = services.settings.data_dir / f".ready-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()

    checks = {
        "broker": _check(services.queue.ping),
        "storage": _check(writable),
        "documents": _check(services.docs.ping),
        "models": _check(lambda: _models_loadable(services.settings.ready_models)),
    }
    ok = all(result == "ok" for result in checks.values())
    if not ok:
        response.status_code = 503
    return ReadinessPublic(status="ready" if ok else "not ready", checks=checks)


@metrics_router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
