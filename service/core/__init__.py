"""Domain code of the service (plain Python, no FastAPI): catalog, documents, search, queue."""

from __future__ import annotations
