"""The HTTP API: the FastAPI app, its routers, dependencies, middleware and error handlers."""

from __future__ import annotations
