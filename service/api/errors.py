"""One place that turns exceptions into HTTP responses.

Library errors (`indexers.errors`) map to 404/409/422/501 and LLM failures to 502/503; service
errors carry their own status; request validation gives 422 with a one-line summary; anything else
is logged and answered 500 with the request id, never with the exception text.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexers.errors import (
    CorruptIndex,
    DocumentNotFound,
    IndexExists,
    IndexNotFound,
    InvalidConfig,
    InvalidInput,
    LLMBadOutput,
    LLMError,
    LLMUnavailable,
    RetrievalError,
    UnsupportedOperation,
)

__all__ = ["register_exception_handlers", "request_id"]
from service.core.errors import (
    ServiceError,
    Unauthorized,
)

logger = logging.getLogger(__name__)

LIBRARY_STATUS: dict[type[RetrievalError], int] = {
    IndexNotFound: 404,
    DocumentNotFound: 404,
    IndexExists: 409,
    InvalidConfig: 422,
    InvalidInput: 422,
    UnsupportedOperation: 501,
    CorruptIndex: 500,
    LLMUnavailable: 503,
    LLMBadOutput: 502,
    LLMError: 502,
}


def request_id(request: Request) -> str:
    """The id the request middleware gave this request ('-' outside it)."""
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _body(request: Request, detail: str, **extra: object) -> dict[str, object]:
    return {"detail": detail, "request_id": request_id(request), **extra}


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(_body(request, exc.message), status_code=exc.status_code, headers=headers)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in LIBRARY_STATUS.items() if isinstance(exc, cls)), 500)
    if status == 500:
        logger.error("request %s failed: %s", request_id(request), exc, exc_info=exc)
    elif status > 500:  # expected conditions (not implemented here, LLM down): no traceback
        logger.warning("request %s answered %d: %s", request_id(request), status, exc)
    return JSONResponse(_body(request, str(exc)), status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(e['loc'][1:]) or e['loc'][0] if e['loc'] else 'request'}: {e['msg']}" for e in errors[:5]
    )
    return JSONResponse(_body(request, f"invalid request: {summary}", errors=errors), status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP errors (unknown path, wrong method) with our body and a complete Allow header."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = {
            method
            for route in request.app.routes
            if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
            for method in route.methods or ()
        }
        headers["Allow"] = ", ".join(sorted(allowed))
    return JSONResponse(_body(request, str(exc.detail)), status_code=exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("request %s failed", request_id(request), exc_info=exc)
    return JSONResponse(_body(request, "internal error; quote the request id when reporting it"), 500)


def register_exception_handlers(app: FastAPI) -> None:
    """Install every handler on `app`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RetrievalError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
