"""Result files turned into tables and plots, whatever their exact shape.

A result file (docs/results/*.json) is a JSON object whose scalar fields describe the run and whose
lists of objects (or objects of scalars) are result rows. Columns come from the rows' keys; nested
values are left out of the table and named. Plots appear where the columns allow: quality against
latency, quality against index size, answer F1 against compression rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from service.console.plots import Point, scatter_svg

__all__ = ["ReportView", "Table", "format_value", "report_view"]

Scalar = str | int | float | bool | None
LABEL_KEYS = ("label", "name", "kind", "method", "system", "config")
QUALITY = re.compile(r"ndcg|f1|recall|mrr|accuracy|exact_match", re.I)
LATENCY = re.compile(r"p50|latency", re.I)
SIZE = re.compile(r"index_bytes|bytes_per_doc|index_mb|size_bytes|index_size", re.I)
COMPRESSION = re.compile(r"compression", re.I)
F1 = re.compile(r"f1", re.I)


@dataclass
class Table:
    """Rows of one list in a result file, with the plots its columns allow."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    omitted: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


@dataclass
class ReportView:
    name: str
    summary: dict[str, Scalar]
    tables: list[Table]


def format_value(value: Any) -> str:
    """A table cell: integers with separators, floats to 3 decimals below 10 and 1 above, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _pick(columns: list[str], pattern: re.Pattern[str], prefer: str = "") -> str | None:
    """The first column matching `pattern`, preferring one whose name also contains `prefer`."""
    found = [c for c in columns if pattern.search(c)]
    preferred = [c for c in found if prefer and prefer in c]
    candidates = preferred or found
    return candidates[0] if candidates else None


def _label(row: dict[str, Any], position: int) -> str:
    for key in LABEL_KEYS:
        if _is_scalar(row.get(key)) and row.get(key) is not None:
            return str(row[key])
    return f"row {position + 1}"


def _plot(table: Table, x: str | None, y: str | None, title: str) -> None:
    if x is None or y is None or x == y:
        return
    points = []
    for position, row in enumerate(table.rows):
        xv, yv = _number(row.get(x)), _number(row.get(y))
        if xv is not None and yv is not None:
            points.append(Point(_label(row, position), xv, yv))
    if points:
        table.plots.append(scatter_svg(points, x, y, title))


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    columns: list[str] = []
    omitted: list[str] = []
    for row in rows:
        for key, value in row.items():
            target = columns if _is_scalar(value) else omitted
            if key not in columns and key not in omitted:
                target.append(key)
    table = Table(title, columns, rows, omitted)
    quality = _pick(columns, QUALITY, prefer="ndcg")
    _plot(table, _pick(columns, LATENCY, prefer="p50"), quality, f"{quality} against latency")
    _plot(table, _pick(columns, SIZE, prefer="index_bytes"), quality, f"{quality} against index size")
    f1 = _pick(columns, F1)
    _plot(table, _pick(columns, COMPRESSION), f1, f"{f1} against compression rate")
    return table


def report_view(name: str, data: Any) -> ReportView:
    """Tables and plots for one result file's JSON."""
    summary: dict[str, Scalar] = {}
    tables: list[Table] = []
    items = data.items() if isinstance(data, dict) else [("rows", data)]
    for key, value in items:
        if _is_scalar(value):
            summary[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(_table(key, value))
        elif isinstance(value, dict) and value and all(_is_scalar(v) for v in value.values()):
            tables.append(_table(key, [value]))
    return ReportView(name, summary, tables)
