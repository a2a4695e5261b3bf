"""Request and response bodies of the HTTP API (template naming: XCreate, XPublic, XsPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, field_validator, model_validator

from indexers.configs import IndexConfig
from indexers.memory.units import MemoryUnit, Turn
from service.core.filters import Filter

__all__ = [
    "ERRORS",
    "NAME_PATTERN",
    "ErrorPublic",
    "BatchSearchRequest",
    "BatchSearchResponse",
    "CollectionCreate",
    "CollectionPublic",
    "CollectionsPublic",
    "DocumentIn",
    "DocumentPublic",
    "DocumentsAdd",
    "DocumentsDelete",
    "HealthPublic",
    "HitPublic",
    "Hybrid",
    "JobPublic",
    "JobState",
    "TERMINAL_STATES",
    "JobsPublic",
    "JobsQuery",
    "KindPublic",
    "Progress",
    "ReadinessPublic",
    "SearchRequest",
    "SearchResponse",
    "TokenMatchPublic",
    "UploadQuery",
    "ExplainRequest",
    "ExplainPublic",
    "TokenHeatPublic",
    "ReportPublic",
    "ReportsPublic",
    "AGENT_PATTERN",
    "MemoryAnswerPublic",
    "MemoryPublic",
    "MemoryQuery",
    "MemoryRecallPublic",
    "TurnsAdd",
    "UnitsPublic",
    "UnitsQuery",
    "TermWeightPublic",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
KIND_PATTERN = r"^[a-z0-9_]{1,32}$"
QueryText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"\S")]
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: frozenset[JobState] = frozenset({"succeeded", "failed", "cancelled"})
"""Job states that never change again."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionCreate(_Strict):
    """A new collection with one or more index kinds (several kinds allow hybrid search)."""

    name: str = Field(pattern=NAME_PATTERN, description="1-128 letters, digits, '_', '.', '-'")
    indexes: list[IndexConfig] = Field(
        min_length=1, max_length=8, description="one config per kind, e.g. [{'kind': 'exact'}]"
    )


class KindPublic(BaseModel):
    kind: str
    config: dict[str, Any]
    version: str | None = Field(description="current committed version; null before the first job")
    size_bytes: int


class JobsQuery(_Strict):
    """Query parameters of the job listing (unknown parameters are rejected)."""

    limit: int = Field(100, ge=1, le=1000, description="at most this many jobs, newest first")
    collection: str | None = Field(None, pattern=NAME_PATTERN, description="only jobs of this collection")


class UploadQuery(_Strict):
    """Query parameters of the JSONL upload (unknown parameters are rejected)."""

    mode: Literal["upsert", "add"] = Field(
        "upsert", description="upsert replaces existing ids; add rejects the batch (409) if one exists"
    )


class CollectionPublic(BaseModel):
    name: str
    documents: int = Field(description="documents in the document store")
    size_bytes: int = Field(description="bytes of the current index versions")
    kinds: list[KindPublic]
    created_at: datetime


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int


class DocumentIn(_Strict):
    id: str = Field(min_length=1, max_length=512, pattern=r"\S")
    text: str = Field(max_length=1_000_000)
    title: str | None = Field(None, max_length=10_000)
    metadata: dict[str, JsonValue] = Field(default_factory=dict, description="JSON payload, filterable")


class DocumentsAdd(_Strict):
    documents: list[DocumentIn] = Field(min_length=1)
    mode: Literal["upsert", "add"] = Field(
        "upsert", description="upsert replaces existing ids; add rejects the batch (409) if one exists"
    )


class DocumentPublic(BaseModel):
    id: str
    text: str
    title: str | None
    metadata: dict[str, Any]


class DocumentsDelete(BaseModel):
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
    def _one_selector(self) -> DocumentsDelete:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give exactly one of 'ids' or 'filter'")
        return self


class Hybrid(_Strict):
    """Reciprocal rank fusion across kinds: score = sum over kinds of weight / (rrf_k + rank)."""

    kinds: list[str] | None = Field(
        None, min_length=1, max_length=8, description="kinds to fuse; default: every kind of the collection"
    )
    weights: dict[str, Annotated[float, Field(ge=0, le=1000)]] | None = Field(
        None, description="per-kind weight in [0, 1000] (default 1.0)"
    )
    rrf_k: int | None = Field(None, ge=1, le=10_000, description="RRF constant (default from settings)")


class SearchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {"required": ["kind", "hybrid"]}})

    k: int = Field(
        None, ge=1, le=10_000, description="hits per query (default from settings, at most TESSERA_MAX_K)"
    )  # type: ignore[assignment]
    kind: str = Field(None, pattern=KIND_PATTERN, description="kind to search; default: the first")  # type: ignore[assignment]
    hybrid: Hybrid = Field(None, description="fuse several kinds instead of searching one")  # type: ignore[assignment]
    filter: Filter = None  # type: ignore[assignment]
    explain: bool = Field(
        False, description="add token matches and contributing vocabulary terms for kinds that explain scores"
    )
    with_text: bool = Field(False, description="include document text and title in hits")

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


class Progress(BaseModel):
    done: int
    total: int


class JobPublic(BaseModel):
    id: str
    type: str
    collection: str
    state: JobState
    progress: Progress | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    created_at: datetime
    links: dict[str, str]


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="check name -> 'ok' or what failed")


class ValidationIssue(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """Every error response: a readable message, the request id, and validation details for 422s."""

    detail: str
    request_id: str
    errors: list[ValidationIssue] | None = None


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


class ExplainRequest(_Strict):
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


class ExplainPublic(BaseModel):
    kind: str
    id: str
    text: str = Field(description="the document as encoded: title and text joined")
    score: float = Field(description="MaxSim score: the sum of the matches' similarities")
    matches: list[TokenMatchPublic] = Field(description="one per query token, in query order")
    tokens: list[TokenHeatPublic] = Field(description="every encoded document token, in text order")


class ReportPublic(BaseModel):
    name: str = Field(description="file name under the results folder")
    size_bytes: int
    modified_at: datetime


class ReportsPublic(BaseModel):
    data: list[ReportPublic]
    count: int


AGENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class TurnsAdd(_Strict):
    """A batch of dialogue turns for an agent's memory."""

    turns: list[Turn] = Field(min_length=1, max_length=256, description="at most 256 turns per request")


class MemoryQuery(_Strict):
    """A question to an agent's memory and the context budget for the answer."""

    query: QueryText
    token_budget: int = Field(512, ge=16, le=32_768, description="most LLM tokens the context may use")
    k: int | None = Field(None, ge=1, le=100, description="units to retrieve (default: by complexity)")
    with_sources: StrictBool = Field(True, description="include the source turns of the returned units")

    @field_validator("token_budget", "k", mode="before")
    @classmethod
    def _json_number(cls, value: object) -> object:
        if isinstance(value, str | bool):
            raise ValueError("must be a JSON number")
        return value


class MemoryRecallPublic(BaseModel):
    context: str
    tokens: int
    units: list[MemoryUnit]
    complexity: str
    level: str = Field(description="detailed: level-0 facts only; mixed: abstracts too")
    k: int
    sources: list[Turn]


class MemoryAnswerPublic(MemoryRecallPublic):
    answer: str
    prompt_tokens: int
    completion_tokens: int


class UnitsQuery(_Strict):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class UnitsPublic(BaseModel):
    data: list[MemoryUnit]
    count: int


class MemoryPublic(BaseModel):
    agent_id: str
    turns: int
    units: int
    live_units: int
    units_since_consolidation: int


# --- prompt compression and answering (issue 8) ---------------------------------------------------

__all__ += ["AnswerRequest", "AnswerResponse", "CompressRequest", "CompressResponse", "SourcePublic"]

Rate = Annotated[float, Field(gt=0, le=1, description="fraction of tokens to keep, in (0, 1]; 0.33 is ~3x")]
TargetTokens = Annotated[int, Field(ge=1, le=1_000_000, description="tokens to keep (instead of rate)")]
ForceTokens = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]],
    Field(max_length=100, description="words or phrases always kept; each must occur in the text"),
]


ONE_BUDGET: dict[str, JsonValue] = {"not": {"required": ["rate", "target_tokens"]}}


class _Budget(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_BUDGET)

    rate: Rate = None  # type: ignore[assignment]
    target_tokens: TargetTokens = None  # type: ignore[assignment]
    force_tokens: ForceTokens = []

    @model_validator(mode="after")
    def _one_budget(self) -> _Budget:
        if self.rate is not None and self.target_tokens is not None:
            raise ValueError("give either 'rate' or 'target_tokens', not both")
        return self


class CompressRequest(_Budget):
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


class AnswerRequest(SearchOptions, _Budget):
    """A question answered from a collection: retrieve (any kind or hybrid), compress, ask the LLM."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"allOf": [{"not": {"required": ["kind", "hybrid"]}}, ONE_BUDGET]},
    )

    collection: str = Field(pattern=NAME_PATTERN)
    query: QueryText
    compression: Literal["none", "lingua", "crag"] = "lingua"
    question_aware: bool = Field(True, description="compress for the query (false: question-agnostic)")
    max_tokens: int = Field(64, ge=1, le=2048, description="most tokens in the answer")
    stream: bool = Field(False, description="answer as server-sent events: sources, then deltas, then done")


class SourcePublic(BaseModel):
    id: str
    score: float
    title: str | None = None


class AnswerResponse(BaseModel):
    answer: str
    sources: list[SourcePublic]
    compression: Literal["none", "lingua", "crag"]
    context_tokens_before: int = Field(description="LLM tokens of the retrieved text")
    context_tokens_after: int = Field(description="LLM tokens of the context sent (compressed, fitted)")
    prompt_tokens: int = Field(description="LLM tokens of the whole prompt")
    completion_tokens: int
    compress_seconds: float
    answer_seconds: float
