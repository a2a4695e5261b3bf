"""API keys: `Authorization: Bearer <key>`, each key bound to one tenant."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.core.errors import Unauthorized
from service.settings import Settings, get_settings

__all__ = ["DEFAULT_TENANT", "TenantDep", "current_tenant"]

DEFAULT_TENANT = "default"

bearer = HTTPBearer(auto_error=False, description="API key bound to a tenant (when keys are configured)")


def current_tenant(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The tenant the request acts for.

    Raises:
        Unauthorized: keys are configured and the request has none, or an unknown one.
    """
    if not settings.api_keys:
        return DEFAULT_TENANT
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    presented = credentials.credentials.encode()
    tenant = None
    for key, owner in settings.api_keys.items():
        if hmac.compare_digest(presented, key.encode()):
            tenant = owner
    if tenant is None:
        raise Unauthorized("invalid API key")
    return tenant


TenantDep = Annotated[str, Depends(current_tenant)]
