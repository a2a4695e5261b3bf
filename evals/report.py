"""The one report writer: Markdown tables and JSON result files for every benchmark and eval.

>>> print(markdown_table(["kind", "nDCG@10"], [["bm25", cell(0.6978, ".3f")], ["dense", None]]))
| kind | nDCG@10 |
|---|---:|
| bm25 | 0.698 |
| dense | — |
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MISSING", "cell", "markdown_table", "paired_table", "write_json", "write_report"]

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


def paired_table(
    rows: Iterable[tuple[str, str, Mapping[str, Any]]], *, measure: str = "nDCG@10", rounds: int = 10_000
) -> list[str]:
    """The paired per-query comparisons of a report: the sentence that explains them, a blank line and
    the table, as lines to join with newlines; empty without rows.

    Each row is (label, against, comparison): the system compared, the one it is compared with on the
    same queries, and `evals.paired.paired_comparison`'s result (`mean_diff`, `wins`, `losses`,
    `ties`, `p_value`; other keys are ignored). `rounds` is the randomization rounds the comparisons
    ran with (`paired_comparison`'s default).

    >>> c = {"mean_diff": 0.0123, "wins": 5, "losses": 2, "ties": 3, "p_value": 0.04}
    >>> print("\\n".join(paired_table([("dense", "bm25", c)])[2:]))
    | compared | against | nDCG@10 difference | wins / losses / ties | p |
    |---|---|---:|---:|---:|
    | dense | bm25 | +0.0123 | 5 / 2 / 3 | 0.0400 |
    """
    table = [
        [
            label,
            against,
            cell(c["mean_diff"], "+.4f"),
            f"{c['wins']} / {c['losses']} / {c['ties']}",
            cell(c["p_value"], ".4f"),
        ]
        for label, against, c in rows
    ]
    if not table:
        return []
    return [
        "Paired per query: the difference is the mean over the queries of the compared system's "
        f"{measure} minus that of the system it is against; wins / losses / ties "
        "count the queries where the compared system scores higher / lower / the same; p is the "
        f"two-sided paired sign-flip randomization test of the mean difference ({rounds:,} rounds).",
        "",
        markdown_table(
            ["compared", "against", f"{measure} difference", "wins / losses / ties", "p"],
            table,
            text_columns=2,
        ),
    ]


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as indented JSON (values JSON cannot hold, such as paths and dates, as strings),
    creating the folder; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_text(path, json.dumps(data, indent=2, default=str) + "\n")
    return path


def _replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader (or a run carried on
    after a crash) sees the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_report(stem: Path, markdown: str, data: Any) -> tuple[Path, Path]:
    """Write `stem.md` (the Markdown report) and `stem.json` (`data`, the results behind it).

    Returns:
        The two paths written.
    """
    md = stem.with_name(stem.name + ".md")
    md.parent.mkdir(parents=True, exist_ok=True)
    _replace_text(md, markdown.rstrip("\n") + "\n")
    return md, write_json(stem.with_name(stem.name + ".json"), data)
