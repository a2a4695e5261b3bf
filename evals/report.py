"""The one report writer: Markdown tables and JSON result files for every benchmark and eval.

>>> print(markdown_table(["kind", "nDCG@10"], [["bm25", cell(0.6978, ".3f")], ["dense", None]]))
| kind | nDCG@10 |
|---|---:|
| bm25 | 0.698 |
| dense | — |
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MISSING", "cell", "markdown_table", "write_json", "write_report"]

MISSING = "—"
"""The cell shown for a value that was not measured."""


def cell(value: float | int | str | None, spec: str = "") -> str:
    """One table cell: `value` formatted with `spec` (a format spec such as `.3f` or `,.0f`), or
    `MISSING` for None.

    >>> cell(1234.5, ",.0f"), cell(None, ".3f"), cell("bm25")
    ('1,234', '—', 'bm25')
    """
    return MISSING if value is None else format(value, spec)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, text_columns: int = 1) -> str:
    """A Markdown table: the first `text_columns` columns left-aligned, the others (numbers)
    right-aligned. Cells are shown with `str`, None as `MISSING`.

    Raises:
        ValueError: a row has another number of cells than the header.
    """
    rule = ["---" if i < text_columns else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        lines.append("| " + " | ".join(MISSING if c is None else str(c) for c in row) + " |")
    return "\n".join(lines)


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as indented JSON (values JSON cannot hold, such as paths and dates, as strings),
    creating the folder; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_report(stem: Path, markdown: str, data: Any) -> tuple[Path, Path]:
    """Write `stem.md` (the Markdown report) and `stem.json` (`data`, the results behind it).

    Returns:
        The two paths written.
    """
    md = stem.with_name(stem.name + ".md")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown.rstrip("\n") + "\n", encoding="utf-8")
    return md, write_json(stem.with_name(stem.name + ".json"), data)
