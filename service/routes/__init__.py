"""One APIRouter per resource, mounted under /v1 by `service.main.create_app`."""

from __future__ import annotations
