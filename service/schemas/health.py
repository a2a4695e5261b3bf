"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["HealthPublic", "ReadinessPublic"]


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="check name -> 'ok' or what failed")
