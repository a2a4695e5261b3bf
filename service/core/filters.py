"""Metadata filters translated to Qdrant's payload filters.

A document's metadata lives in its Qdrant payload under `metadata`; a condition on key `year`
tests `metadata.year`. The filter language itself is `service.schemas.filters`.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import models

from service.schemas.filters import AnyCondition, Condition, Filter, MatchCondition

__all__ = ["to_qdrant"]


def _condition(condition: Condition) -> models.FieldCondition:
    key = f"metadata.{condition.key}"
    if isinstance(condition, MatchCondition):
        return models.FieldCondition(key=key, match=models.MatchValue(value=condition.match))
    if isinstance(condition, AnyCondition):
        values: Any = condition.any
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))
    bounds = condition.range
    return models.FieldCondition(
        key=key, range=models.Range(gt=bounds.gt, gte=bounds.gte, lt=bounds.lt, lte=bounds.lte)
    )


def to_qdrant(flt: Filter) -> models.Filter:
    """The equivalent Qdrant payload filter."""
    return models.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )
