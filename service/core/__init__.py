"""Domain code of the service (plain Python, no FastAPI): the services container, collections,
documents, search, answering, agent memories, reports and the job queue."""

from __future__ import annotations
