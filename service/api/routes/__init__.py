"""One APIRouter per resource, mounted under /v1 by `service.api.main.create_app`."""

from __future__ import annotations
