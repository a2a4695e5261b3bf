"""Prompt compression and question answering over a collection (actions: `XRequest` / `XResponse`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    model_validator,
)

from service.schemas.common import JSON_NUMBER, NAME_PATTERN, QueryText, StrictModel
from service.schemas.search import SearchOptions

__all__ = [
    "AnswerRequest",
    "AnswerResponse",
    "BudgetOptions",
    "Compression",
    "CompressRequest",
    "CompressResponse",
    "SourcePublic",
]

Compression = Literal["none", "lingua", "crag"]
Rate = Annotated[
    StrictFloat, Field(gt=0, le=1, description="fraction of tokens to keep, in (0, 1]; 0.33 is ~3x")
]
TargetTokens = Annotated[
    int, Field(ge=1, le=1_000_000, description="tokens to keep (instead of rate)"), JSON_NUMBER
]
ForceTokens = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]],
    Field(max_length=100, description="words or phrases always kept; each must occur in the text"),
]


ONE_BUDGET: dict[str, JsonValue] = {"not": {"required": ["rate", "target_tokens"]}}


class BudgetOptions(StrictModel):
    """How much to keep: a rate or a token target (not both), and the words always kept."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_BUDGET)

    rate: Rate = None  # type: ignore[assignment]
    target_tokens: TargetTokens = None  # type: ignore[assignment]
    force_tokens: ForceTokens = []

    @model_validator(mode="after")
    def _one_budget(self) -> BudgetOptions:
        if self.rate is not None and self.target_tokens is not None:
            raise ValueError("give either 'rate' or 'target_tokens', not both")
        return self


class CompressRequest(BudgetOptions):
    """Text or passages to compress; without rate or target_tokens the rate is 0.5."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={**ONE_BUDGET, "oneOf": [{"required": ["text"]}, {"required": ["passages"]}]},
    )

    text: str = Field(None, min_length=1, pattern=r"\S", description="one text")  # type: ignore[assignment]
    passages: list[Annotated[str, Field(min_length=1, pattern=r"\S")]] = Field(
        None,  # type: ignore[arg-type]
        min_length=1,
        max_length=500,
        description="several passages (CRAG clusters them)",
    )
    method: Literal["lingua", "crag"] = "lingua"
    question: QueryText = Field(
        None,  # type: ignore[assignment]
        description="the question the text must answer: its most relevant parts get the budget",
    )

    @model_validator(mode="after")
    def _text_or_passages(self) -> CompressRequest:
        if (self.text is None) == (self.passages is None):
            raise ValueError("give exactly one of 'text' or 'passages'")
        return self


class CompressResponse(BaseModel):
    text: str
    rate: float = Field(description="rate reached: tokens_after / tokens_before (encoder tokens)")
    tokens_before: int
    tokens_after: int
    words: list[str] = Field(description="the input's words, passages in order")
    kept: list[bool] | None = Field(description="per word, whether it was kept (null for an LLM summary)")
    seconds: float


class AnswerRequest(SearchOptions, BudgetOptions):
    """A question answered from a collection: retrieve (any kind or hybrid), compress, ask the LLM."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"allOf": [{"not": {"required": ["kind", "hybrid"]}}, ONE_BUDGET]},
    )

    collection: str = Field(pattern=NAME_PATTERN)
    query: QueryText
    compression: Compression = "lingua"
    question_aware: StrictBool = Field(True, description="compress for the query (false: question-agnostic)")
    max_tokens: Annotated[int, Field(ge=1, le=2048), JSON_NUMBER] = Field(
        64, description="most tokens in the answer"
    )
    stream: StrictBool = Field(
        False, description="answer as server-sent events: sources, then deltas, then done"
    )


class SourcePublic(BaseModel):
    id: str
    score: float
    title: str | None = None


class AnswerResponse(BaseModel):
    answer: str
    sources: list[SourcePublic]
    compression: Compression
    context_tokens_before: int = Field(description="LLM tokens of the retrieved text")
    context_tokens_after: int = Field(description="LLM tokens of the context sent (compressed, fitted)")
    prompt_tokens: int = Field(description="LLM tokens of the whole prompt")
    completion_tokens: int
    compress_seconds: float
    answer_seconds: float
