"""Service settings, read from `TESSERA_*` environment variables (and `.env`).

This module is the only place that reads the environment. Both the API and the workers call
`get_settings()`; tests build `Settings(...)` directly and pass it to `create_app`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexers.configs import GenreConfig, IndexConfig
from indexers.memory.units import MemoryConfig
from indexers.models.llm import LLMConfig

__all__ = ["TENANT_PATTERN", "Settings", "get_settings"]

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Settings(BaseSettings):
    """Every knob of the service; see the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="TESSERA_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    mode: Literal["embedded", "distributed"] = Field(
        "embedded",
        description="embedded: SQLite broker and results under data_dir, worker started by `tessera serve`; "
        "distributed: broker_url (Redis) and separately started workers",
    )
    data_dir: Path = Field(Path("data"), description="index versions, jobs, staging files, embedded broker")
    broker_url: str = Field("redis://localhost:6379/0", description="Celery broker in distributed mode")
    result_backend: str | None = Field(
        None, description="Celery result backend in distributed mode (default: broker_url)"
    )
    task_queue: str = Field("index", min_length=1, max_length=64, description="queue for index jobs")
    qdrant_url: str | None = Field(
        None, description="Qdrant server URL; unset = Qdrant local mode in data_dir/qdrant (one process)"
    )
    qdrant_api_key: str | None = Field(None, description="API key for the Qdrant server")
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='API key -> tenant, as JSON (`{"key": "tenant"}`); empty = no auth, tenant "default"',
    )
    host: str = Field("127.0.0.1", description="bind address of `tessera serve`")
    port: int = Field(8000, ge=1, le=65535, description="port of `tessera serve`")
    default_k: int = Field(10, ge=1, le=1000, description="k when a search names none")
    max_k: int = Field(1000, ge=1, le=10000, description="largest k a search may ask for")
    max_batch_docs: int = Field(10_000, ge=1, description="most documents in one add request")
    max_batch_queries: int = Field(256, ge=1, description="most queries in one batch search")
    max_request_bytes: int = Field(32 * 2**20, ge=1024, description="largest request body (413 above)")
    overfetch: int = Field(4, ge=1, le=100, description="first over-fetch factor for filtered searches")
    fusion_depth: int = Field(100, ge=1, le=10_000, description="candidates per kind fused by hybrid search")
    rrf_k: int = Field(60, ge=1, description="default reciprocal rank fusion constant")
    job_stale_s: float = Field(
        120.0, gt=0, description="a running job with no worker heartbeat for this long is reported failed"
    )
    heartbeat_s: float = Field(5.0, gt=0, description="worker heartbeat interval while a job runs")
    visibility_timeout_s: int = Field(
        3600,
        ge=2,
        description="Redis: a job not acknowledged this many seconds after delivery (its worker died) is "
        "redelivered; must exceed the longest job",
    )
    result_expires_s: int = Field(7 * 86400, ge=60, description="how long job results are kept")
    task_max_retries: int = Field(3, ge=0, description="retries for transient I/O errors in jobs")
    preload_models: list[str] = Field(
        default_factory=list, description="encoder models each worker process loads at start"
    )
    ready_models: list[str] = Field(
        default_factory=lambda: ["minilm"], description="models readiness checks are resolvable"
    )
    keep_versions: int = Field(2, ge=1, description="committed versions kept per index kind")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="logging level")
    llm: LLMConfig = Field(
        default_factory=LLMConfig,
        description="the LLM for memory, compression and answers, by field: TESSERA_LLM__BACKEND (local, "
        "openai), TESSERA_LLM__MODEL, TESSERA_LLM__BASE_URL, TESSERA_LLM__API_KEY, TESSERA_LLM__TIMEOUT_S",
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "tessera",
        description="where packaged GGUF language models are converted to transformers folders (once)",
    )
    memory: MemoryConfig = Field(
        default_factory=MemoryConfig,
        description="agent memory (window, filter, consolidation, retrieval), by field: "
        "TESSERA_MEMORY__WINDOW, TESSERA_MEMORY__CONSOLIDATE_AFTER, ...",
    )
    memory_consolidate_every_s: float = Field(
        900.0,
        ge=0,
        description="every this many seconds, Celery beat queues a `memory.consolidate` job for each agent "
        "with units written since its last consolidation (0 = off); embedded mode runs beat in the "
        "worker, distributed mode needs one beat process (compose service `beat`)",
    )
    api_url: str | None = Field(None, description="CLI client: server URL (default http://host:port)")
    api_key: str | None = Field(None, description="CLI client: API key to send")
    results_dir: Path = Field(
        Path("docs/results"), description="evaluation and benchmark result JSON files shown by the console"
    )

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        if not re.match(r"^(redis|rediss|amqp|sqla\+[a-z]+|memory)://", value):
            raise ValueError("broker_url must start with redis://, rediss://, amqp:// or sqla+...://")
        return value

    @field_validator("api_keys")
    @classmethod
    def _tenants(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tenant in value.items():
            if len(key) < 8:
                raise ValueError("API keys must be at least 8 characters long")
            if not re.match(TENANT_PATTERN, tenant):
                raise ValueError(f"invalid tenant name {tenant!r}: 1-64 letters, digits, '_' or '-'")
        return value

    @model_validator(mode="after")
    def _k_bounds(self) -> Settings:
        if self.default_k > self.max_k:
            raise ValueError("default_k must not exceed max_k")
        return self

    @property
    def llm_config(self) -> LLMConfig:
        """The LLM config, with the model cache folder filled in from `model_cache_dir`."""
        if self.llm.cache_dir is not None:
            return self.llm
        return self.llm.model_copy(update={"cache_dir": self.model_cache_dir})

    def index_config(self, config: IndexConfig) -> IndexConfig:
        """`config` with its model cache folder filled in from `model_cache_dir` when it loads a language
        model (genre) and was given none."""
        if not isinstance(config, GenreConfig) or config.cache_dir is not None:
            return config
        return config.model_copy(update={"cache_dir": str(self.model_cache_dir)})

    @property
    def broker(self) -> str:
        """The Celery broker URL for the current mode."""
        if self.mode == "embedded":
            return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"
        return self.broker_url

    @property
    def backend(self) -> str:
        """The Celery result backend URL for the current mode."""
        if self.mode == "embedded":
            return f"db+sqlite:///{(self.data_dir / 'results.sqlite').resolve()}"
        return self.result_backend or self.broker_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached); `get_settings.cache_clear()` re-reads the environment."""
    return Settings()
