"""Pieces every resource shares: name patterns, the query text type, the strict base model, and the
error body with the error responses every route documents."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "ERRORS",
    "MAXIMUM_FROM",
    "KIND_PATTERN",
    "NAME_PATTERN",
    "ErrorPublic",
    "JSON_NUMBER",
    "QueryText",
    "StrictModel",
    "ValidationIssuePublic",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
KIND_PATTERN = r"^[a-z0-9_]{1,32}$"
QueryText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"\S")]


def _json_number(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number")
    return value


JSON_NUMBER = BeforeValidator(_json_number)
"""Rejects `true` and `"3"` where a JSON number is expected (lax validation would take them). Put it
after the bounds, `Annotated[int, Field(ge=1), JSON_NUMBER]`, so the schema keeps them; `3.0` stays
an integer, as in JSON Schema."""

MAXIMUM_FROM = "x-maximum-from"
"""Schema key naming the setting whose value is a field's `maximum` in the served OpenAPI document
(the static bound in the model is the setting's own ceiling)."""


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
