"""The records agent memory keeps: dialogue turns in, memory units out, and the memory's config."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from indexers.configs import EncoderConfig

__all__ = ["ID_PATTERN", "READ_SETTINGS", "MemoryConfig", "MemoryUnit", "Turn", "UnitPatch", "unit_id"]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
READ_SETTINGS = frozenset(
    {
        "k",
        "candidates",
        "weights",
        "rrf_k",
        "token_budget",
        "expand_sources",
        "context_order",
        "answer_max_tokens",
    }
)
"""`MemoryConfig` fields used only when reading: a stored memory is the same whatever they are."""
NAMESPACE = uuid.UUID("0b7d6c2e-3f5a-4c1d-9e8b-7a6f5e4d3c2b")


def unit_id(key: str) -> str:
    """A deterministic unit id for `key` (the same sources give the same id, so writes are idempotent)."""
    return str(uuid.uuid5(NAMESPACE, key))


class Turn(BaseModel):
    """One dialogue turn: who said what, when, in which session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16], pattern=ID_PATTERN)
    speaker: str = Field(min_length=1, max_length=128, pattern=r"\S")
    text: str = Field(min_length=1, max_length=20_000, pattern=r"\S")
    timestamp: datetime = Field(description="ISO 8601; a time without zone is read as UTC")
    session: str = Field("default", pattern=ID_PATTERN)

    @field_validator("text", "speaker")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        if not isinstance(value, str | datetime):
            raise ValueError("must be an ISO 8601 date-time string")
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class MemoryUnit(BaseModel):
    """A self-contained fact (level 0) or an abstract over other units (level >= 1).

    `source_turn_ids` name the turns it came from; `source_unit_ids` the units an abstract
    summarises. A retired unit stays stored (nothing is lost) but is no longer retrieved: the unit
    named by `superseded_by` says the same and has taken over its sources.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)
    level: int = Field(0, ge=0)
    keywords: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    persons: list[str] = Field(default_factory=list)
    time: str | None = Field(None, description="ISO date (or date-time) the fact refers to")
    location: str | None = None
    source_turn_ids: list[str] = Field(default_factory=list)
    source_unit_ids: list[str] = Field(default_factory=list)
    retired: bool = False
    superseded_by: str | None = None
    parent_id: str | None = Field(None, description="the abstract unit that summarises this one")
    origin: Literal["llm", "raw", "abstract", "edited"] = "llm"
    session: str | None = None
    window: str | None = Field(None, description="key of the turn window it was extracted from")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class UnitPatch(BaseModel):
    """Fields a client may change on a unit; the others are kept."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(None, min_length=1)
    keywords: list[str] | None = None
    entities: list[str] | None = None
    persons: list[str] | None = None
    time: str | None = None
    location: str | None = None


class MemoryConfig(BaseModel):
    """Every knob of agent memory: write path, consolidation, retrieval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encoder: EncoderConfig = EncoderConfig(model="minilm", query_max_length=256)
    window: int = Field(
        24,
        ge=1,
        le=64,
        description="most turns per extraction window (one LLM call; a session is split evenly)",
    )
    stride: int | None = Field(None, ge=1, description="turns between window starts (default: window)")
    extract_concurrency: int = Field(
        2, ge=1, le=16, description="windows extracted at once (the llamacpp backend's parallel slots)"
    )
    filter_alpha: float = Field(0.5, ge=0, le=1, description="weight of new entities vs semantic novelty")
    filter_threshold: float = Field(0.2, ge=0, le=1, description="windows scoring below are not extracted")
    extract_max_tokens: int = Field(96, ge=32, le=4096, description="reply bound of one extraction")
    llm_attempts: int = Field(2, ge=1, le=5, description="tries per LLM call before falling back")
    raw_coverage: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a turn is also kept verbatim when its facts repeat less than this share of its words",
    )
    consolidate_after: int = Field(32, ge=1, description="new units that trigger a consolidation")
    group_similarity: float = Field(0.55, ge=0, le=1, description="cosine to join a consolidation group")
    duplicate_similarity: float = Field(
        0.92, ge=0, le=1, description="cosine above which a unit is redundant"
    )
    group_max: int = Field(6, ge=2, le=32)
    max_level: int = Field(2, ge=1, le=8)
    k: dict[str, int] = Field(
        default_factory=lambda: {"simple": 8, "moderate": 12, "complex": 16},
        description="units retrieved per query complexity",
    )
    candidates: int = Field(40, ge=1, le=1000, description="candidates per view before fusion")
    weights: dict[str, float] = Field(
        default_factory=lambda: {"dense": 0.5, "lexical": 1.0, "symbolic": 0.25},
        description="weighted reciprocal rank fusion of the three views",
    )
    rrf_k: int = Field(10, ge=1, description="rank offset of the fusion (small: the top ranks count most)")
    bm25_k1: float = Field(1.2, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)
    bm25_avgdl: float = Field(20.0, gt=0, description="typical unit length in words (BM25 length norm)")
    token_budget: int = Field(512, ge=16, description="default context budget in LLM tokens")
    expand_sources: int = Field(
        0,
        ge=0,
        le=16,
        description="source turns shown verbatim under each packed LLM fact, budget allowing (0: none)",
    )
    context_order: Literal["relevance", "time"] = Field(
        "relevance", description="packed units shown best first, or oldest first"
    )
    answer_max_tokens: int = Field(48, ge=1, le=2048)

    def write_settings(self) -> dict[str, object]:
        """The settings that shape what is stored (all but `READ_SETTINGS`), as JSON values."""
        return self.model_dump(mode="json", exclude=set(READ_SETTINGS))
