"""Evaluation reports: the JSON result files of `evals/` and `benchmarks/` in the results folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path

from service.api.deps import SettingsDep, TenantDep
from service.core.errors import NotFound
from service.schemas.common import ERRORS
from service.schemas.reports import ReportPublic, ReportsPublic

__all__ = ["router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=ERRORS)

ReportName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.json$", description="file name")
]


@router.get("")
def list_all(settings: SettingsDep, _tenant: TenantDep) -> ReportsPublic:
    """The result files (`*.json`) in the configured results folder, by name."""
    folder = settings.results_dir
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    data = [
        ReportPublic(
            name=path.name,
            size_bytes=path.stat().st_size,
            modified_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )
        for path in files
        if path.is_file()
    ]
    return ReportsPublic(data=data, count=len(data))


@router.get("/{report}")
def get(report: ReportName, settings: SettingsDep, _tenant: TenantDep) -> Any:
    """One result file's JSON, as written by the command that measured it."""
    path = settings.results_dir / report
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFound(f"no report {report!r} in the results folder") from exc
    except ValueError as exc:
        raise NotFound(f"report {report!r} is not valid JSON: {exc}") from exc
