"""Request and response bodies of the HTTP API and job payload views (pydantic only)."""

from __future__ import annotations
