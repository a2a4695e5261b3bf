"""The web console: Jinja2 pages and htmx fragments over the /v1 API, mounted at /console."""

from __future__ import annotations
