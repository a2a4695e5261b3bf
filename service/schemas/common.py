"""Pieces every resource shares: name patterns, the query text type, the strict base model, and the
error body with the error responses every route documents."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERRORS",
    "KIND_PATTERN",
    "NAME_PATTERN",
    "ErrorPublic",
    "QueryText",
    "StrictModel",
    "ValidationIssuePublic",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
KIND_PATTERN = r"^[a-z0-9_]{1,32}$"
QueryText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"\S")]


class StrictModel(BaseModel):
    """A request body or query that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ValidationIssuePublic(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """Every error response: a readable message, the request id, and validation details for 422s."""

    detail: str
    request_id: str
    errors: list[ValidationIssuePublic] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": description}
    for status, description in [
        (400, "the body could not be read (not JSON, or not UTF-8)"),
        (401, "missing or invalid API key"),
        (404, "no such collection, document or job (for this tenant)"),
        (409, "conflict: the name or the documents already exist, or a job is writing the collection"),
        (413, "request body or batch over the limits"),
        (422, "invalid request: the message names the field and the problem"),
        (500, "internal error; quote the request id"),
        (503, "the job broker is unreachable"),
    ]
}
"""The error responses every router declares (`APIRouter(responses=ERRORS)`)."""
