"""Pinned reference scores (`evals/expected.toml`): loading, lookup, and comparison with a result."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indexers.configs import IndexConfig, parse_config
from indexers.errors import InvalidConfig

__all__ = ["EXPECTED_PATH", "METRICS", "Expected", "expected_for", "load_expected"]

EXPECTED_PATH = Path(__file__).with_name("expected.toml")
METRICS = ("ndcg_at_10", "recall_at_100", "mrr_at_10")


class Expected(BaseModel):
    """One pinned row: reference scores of one configuration on one dataset split."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    dataset: str
    split: str
    config: dict[str, Any] = Field(default_factory=dict, description="overrides of the kind's defaults")
    ndcg_at_10: float | None = Field(None, ge=0, le=1)
    recall_at_100: float | None = Field(None, ge=0, le=1)
    mrr_at_10: float | None = Field(None, ge=0, le=1)
    tolerance: float = Field(gt=0, le=1, description="absolute, per metric")
    source: str = Field(min_length=1)

    def index_config(self) -> IndexConfig:
        """The full index configuration this row was measured with."""
        return parse_config({**self.config, "kind": self.kind})

    def scores(self) -> dict[str, float]:
        """The metrics this row pins, by name."""
        return {name: value for name in METRICS if (value := getattr(self, name)) is not None}

    def check(self, measured: Mapping[str, Any]) -> list[str]:
        """Compare measured metrics (e.g. `EvalResult.model_dump()`) with this row.

        Returns:
            One message per metric outside `expected ± tolerance` (empty when all agree).
        """
        problems = []
        for name, expected in self.scores().items():
            got = float(measured[name])
            if abs(got - expected) > self.tolerance:
                problems.append(
                    f"{self.kind} {self.dataset}/{self.split} {name}: got {got:.4f}, expected "
                    f"{expected:.4f} ± {self.tolerance} ({self.source})"
                )
        return problems


def load_expected(path: Path = EXPECTED_PATH) -> list[Expected]:
    """Read every `[[row]]` of an expected-scores TOML file.

    Raises:
        ValueError: the file is not valid TOML, a row is malformed, or its config is invalid.
    """
    try:
        rows = tomllib.loads(path.read_text(encoding="utf-8")).get("row", [])
        expected = [Expected.model_validate(row) for row in rows]
        for row in expected:
            row.index_config()
    except (tomllib.TOMLDecodeError, ValidationError, InvalidConfig) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return expected


def expected_for(
    config: IndexConfig, dataset: str, split: str, rows: list[Expected] | None = None
) -> Expected | None:
    """The pinned row whose full configuration, dataset and split equal the given ones, if any."""
    for row in load_expected() if rows is None else rows:
        if row.dataset == dataset and row.split == split and row.index_config() == config:
            return row
    return None
