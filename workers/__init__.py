"""Celery workers: deserialize job payloads, call the library, report progress; no retrieval logic."""

from __future__ import annotations
