"""Collections: create one with one or several index kinds, read it with its stats, list them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, field_validator

from indexers.configs import IndexConfig
from service.schemas.common import NAME_PATTERN, StrictModel

__all__ = ["CollectionCreate", "CollectionPublic", "CollectionsPublic", "KindPublic"]


_CONFIGS: TypeAdapter[list[IndexConfig]] = TypeAdapter(list[IndexConfig])


class CollectionCreate(StrictModel):
    """A new collection with one or more index kinds (several kinds allow hybrid search)."""

    name: str = Field(pattern=NAME_PATTERN, description="1-128 letters, digits, '_', '.', '-'")
    indexes: list[IndexConfig] = Field(
        min_length=1, max_length=8, description="one config per kind, e.g. [{'kind': 'exact'}]"
    )

    @field_validator("indexes", mode="before")
    @classmethod
    def _strict_configs(cls, value: object) -> object:
        """Configs from a request are read as strict JSON: `false` is not a number, `0` not a boolean."""
        if not isinstance(value, list):
            return value
        return _CONFIGS.validate_json(json.dumps(value), strict=True)


class KindPublic(BaseModel):
    kind: str
    config: dict[str, Any]
    version: str | None = Field(description="current committed version; null before the first job")
    size_bytes: int


class CollectionPublic(BaseModel):
    name: str
    documents: int = Field(description="documents in the document store")
    size_bytes: int = Field(description="bytes of the current index versions")
    kinds: list[KindPublic]
    created_at: datetime


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int
