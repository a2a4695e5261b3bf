"""Evaluation reports: the JSON result files of `evals/` and `benchmarks/` in the results folder."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from service.api.deps import SettingsDep, TenantDep
from service.core.reports import list_reports, read_report
from service.schemas.common import ERRORS
from service.schemas.reports import ReportsPublic

__all__ = ["get", "list_all", "router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=ERRORS)

ReportName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.json$", description="file name")
]


@router.get("")
def list_all(settings: SettingsDep, _tenant: TenantDep) -> ReportsPublic:
    """The result files (`*.json`) in the configured results folder, by name."""
    data = list_reports(settings.results_dir)
    return ReportsPublic(data=data, count=len(data))


@router.get("/{report}")
def get(report: ReportName, settings: SettingsDep, _tenant: TenantDep) -> Any:
    """One result file's JSON, as written by the command that measured it."""
    return read_report(settings.results_dir, report)
