"""Search and explain: one query or a batch, one kind or several fused, with filters and token
matches (actions, so `XRequest` / `XResponse`; the parts of a response are `XPublic`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, model_validator

from service.schemas.common import JSON_NUMBER, KIND_PATTERN, MAXIMUM_FROM, QueryText, StrictModel
from service.schemas.filters import Filter

__all__ = [
    "BatchSearchRequest",
    "BatchSearchResponse",
    "ExplainRequest",
    "ExplainResponse",
    "HitPublic",
    "Hybrid",
    "SearchOptions",
    "SearchRequest",
    "SearchResponse",
    "SharedNamePublic",
    "TermWeightPublic",
    "TokenHeatPublic",
    "TokenMatchPublic",
]


class Hybrid(StrictModel):
    """Fusion across kinds: by default a weighted sum of per-query normalised scores (settings
    `fusion`, `fusion_weights`); with `rrf_k`, score = sum over kinds of weight / (rrf_k + rank)."""

    kinds: list[str] | None = Field(
        None, min_length=1, max_length=8, description="kinds to fuse; default: every kind of the collection"
    )
    weights: dict[str, Annotated[StrictFloat, Field(ge=0, le=1000)]] | None = Field(
        None,
        description="per-kind weight in [0, 1000]; none given: the server's default fusion weights; "
        "a kind left out of given weights: 1.0",
    )
    rrf_k: Annotated[int, Field(ge=1, le=10_000), JSON_NUMBER] | None = Field(
        None, description="use reciprocal rank fusion with this constant (default: the server's fusion)"
    )


class SearchOptions(BaseModel):
    """What every search request may set besides its queries."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {"required": ["kind", "hybrid"]}})

    k: Annotated[int, Field(ge=1, le=10_000), JSON_NUMBER] = Field(  # type: ignore[assignment]
        None,
        description="hits per query (default from settings, at most TESSERA_MAX_K)",
        json_schema_extra={MAXIMUM_FROM: "max_k"},
    )
    kind: str = Field(None, pattern=KIND_PATTERN, description="kind to search; default: the first")  # type: ignore[assignment]
    hybrid: Hybrid = Field(None, description="fuse several kinds instead of searching one")  # type: ignore[assignment]
    filter: Filter = None  # type: ignore[assignment]
    explain: StrictBool = Field(
        False, description="add token matches and contributing vocabulary terms for kinds that explain scores"
    )
    with_text: StrictBool = Field(False, description="include document text and title in hits")

    @model_validator(mode="after")
    def _kind_or_hybrid(self) -> SearchOptions:
        if self.kind is not None and self.hybrid is not None:
            raise ValueError("give either 'kind' or 'hybrid', not both")
        return self


class SearchRequest(SearchOptions):
    query: QueryText


class BatchSearchRequest(SearchOptions):
    queries: list[QueryText] = Field(min_length=1, description="at most max_batch_queries queries")


class TokenMatchPublic(BaseModel):
    query_token: str
    doc_token: str
    score: float


class TermWeightPublic(BaseModel):
    term: str
    score: float


class SharedNamePublic(BaseModel):
    name: str
    shared_with: list[str] = Field(description="the other documents that go by this name")


class HitPublic(BaseModel):
    id: str
    score: float
    metadata: dict[str, Any]
    text: str | None = None
    title: str | None = None
    matches: list[TokenMatchPublic] | None = Field(None, description="why it matched (explainable kinds)")
    terms: list[TermWeightPublic] | None = Field(
        None, description="vocabulary terms that contributed most to the score (slim, lens), largest first"
    )
    shared_names: list[SharedNamePublic] | None = Field(
        None,
        description="names of this document that other documents go by too (genre): generating one of "
        "them cannot tell the documents apart; absent when none",
    )


class SearchResponse(BaseModel):
    kinds: list[str] = Field(description="kinds searched (several when fused)")
    hits: list[HitPublic]


class BatchSearchResponse(BaseModel):
    kinds: list[str]
    results: list[list[HitPublic]]


class ExplainRequest(StrictModel):
    """Explain one document's score for a query, token by token."""

    query: QueryText
    id: str = Field(min_length=1, max_length=512, description="document id")
    kind: str = Field(
        None, pattern=KIND_PATTERN, description="late-interaction kind; default: the first that can explain"
    )  # type: ignore[assignment]


class TokenHeatPublic(BaseModel):
    start: int = Field(description="character offset of the token in `text`")
    end: int
    score: float = Field(description="best similarity to any query token")
    query_token: str = Field(description="the query token of that similarity")
    matched: bool = Field(description="the token's vector is some query token's best match")


class ExplainResponse(BaseModel):
    kind: str
    id: str
    text: str = Field(description="the document as encoded: title and text joined")
    score: float = Field(description="MaxSim score: the sum of the matches' similarities")
    matches: list[TokenMatchPublic] = Field(description="one per query token, in query order")
    tokens: list[TokenHeatPublic] = Field(description="every encoded document token, in text order")
