"""Evaluation reports: the JSON result files that `evals/` and `benchmarks/` write to the results folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.core.errors import NotFound
from service.schemas.reports import ReportPublic

__all__ = ["list_reports", "read_report"]


def list_reports(folder: Path) -> list[ReportPublic]:
    """The result files (`*.json`) in `folder`, by name (none if the folder does not exist)."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [
        ReportPublic(
            name=path.name,
            size_bytes=path.stat().st_size,
            modified_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )
        for path in files
        if path.is_file()
    ]


def read_report(folder: Path, name: str) -> Any:
    """The JSON of the result file `name` in `folder`.

    Raises:
        NotFound: no such file, or it is not valid JSON.
    """
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFound(f"no report {name!r} in the results folder") from exc
    except ValueError as exc:
        raise NotFound(f"report {name!r} is not valid JSON: {exc}") from exc
