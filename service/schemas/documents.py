"""Documents: add a batch (JSON body or JSONL upload), read one, delete by ids or by a filter."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from service.schemas.common import StrictModel
from service.schemas.filters import Filter

__all__ = ["DocumentCreate", "DocumentPublic", "DocumentsCreate", "DocumentsDeleteRequest", "UploadParams"]

WriteMode = Annotated[
    Literal["upsert", "add"],
    Field(description="upsert replaces existing ids; add rejects the batch (409) if one exists"),
]


class UploadParams(StrictModel):
    """Query parameters of the JSONL upload (unknown parameters are rejected)."""

    mode: WriteMode = "upsert"


class DocumentCreate(StrictModel):
    id: str = Field(min_length=1, max_length=512, pattern=r"\S")
    text: str = Field(min_length=1, max_length=1_000_000, pattern=r"\S", description="not blank")
    title: str | None = Field(None, max_length=10_000)
    metadata: dict[str, JsonValue] = Field(default_factory=dict, description="JSON payload, filterable")


class DocumentsCreate(StrictModel):
    documents: list[DocumentCreate] = Field(min_length=1)
    mode: WriteMode = "upsert"


class DocumentPublic(BaseModel):
    id: str
    text: str
    title: str | None
    metadata: dict[str, Any]


class DocumentsDeleteRequest(BaseModel):
    """Delete by ids or by a metadata filter (exactly one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["ids"]}, {"required": ["filter"]}]}
    )

    ids: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        None,  # type: ignore[arg-type]
        min_length=1,
        max_length=100_000,
    )
    filter: Filter = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_selector(self) -> DocumentsDeleteRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give exactly one of 'ids' or 'filter'")
        return self
