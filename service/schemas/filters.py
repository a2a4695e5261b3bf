"""Metadata filters in requests: a small, typed filter language over a document's `metadata`.

A condition on key `year` tests `metadata.year`; nested keys use dots (`author.name`).
`service.core.filters.to_qdrant` translates a filter into Qdrant's payload filter.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)
from pydantic.config import JsonDict

__all__ = ["AnyCondition", "Condition", "Filter", "MatchCondition", "Range", "RangeCondition"]

KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$"


Bound = StrictInt | StrictFloat


class Range(BaseModel):
    """Numeric bounds; at least one is required."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    gt: Bound = None  # type: ignore[assignment]
    gte: Bound = None  # type: ignore[assignment]
    lt: Bound = None  # type: ignore[assignment]
    lte: Bound = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_bound(self) -> Range:
        if all(bound is None for bound in (self.gt, self.gte, self.lt, self.lte)):
            raise ValueError("a range needs at least one of gt, gte, lt, lte")
        return self


Key = Annotated[str, Field(pattern=KEY_PATTERN, description="metadata key; dots for nested keys")]


class MatchCondition(BaseModel):
    """The key equals `match`."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    match: StrictStr | StrictInt | StrictBool


class AnyCondition(BaseModel):
    """The key equals one of `any`."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    any: (
        Annotated[list[StrictStr], Field(min_length=1, max_length=1024)]
        | Annotated[list[StrictInt], Field(min_length=1, max_length=1024)]
    )


class RangeCondition(BaseModel):
    """The key is a number within `range`."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    range: Range


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        return None
    return next((name for name in ("match", "any", "range") if name in value), None)


Condition = Annotated[
    Annotated[MatchCondition, Tag("match")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[RangeCondition, Tag("range")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition needs a 'key' and exactly one of match, any, range",
    ),
]

_NON_EMPTY: JsonDict = {
    "anyOf": [
        {"required": [name], "properties": {name: {"minItems": 1}}} for name in ("must", "should", "must_not")
    ]
}


class Filter(BaseModel):
    """All `must` conditions hold, at least one `should` holds (if any), no `must_not` holds."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_NON_EMPTY)

    must: list[Condition] = Field(default_factory=list, max_length=64)
    should: list[Condition] = Field(default_factory=list, max_length=64)
    must_not: list[Condition] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _not_empty(self) -> Filter:
        if not (self.must or self.should or self.must_not):
            raise ValueError("a filter needs at least one condition in must, should or must_not")
        return self
