"""Evaluation reports: the JSON result files in the results folder."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["ReportPublic", "ReportsPublic"]


class ReportPublic(BaseModel):
    name: str = Field(description="file name under the results folder")
    size_bytes: int
    modified_at: datetime


class ReportsPublic(BaseModel):
    data: list[ReportPublic]
    count: int
