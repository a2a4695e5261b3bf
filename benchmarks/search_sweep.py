"""Query-time settings of a saved `colbert_pooled` or `xtr` index, swept on one split of a BEIR folder.

    python -m benchmarks.search_sweep --data ../shared/data/scifact --split dev \
        --index runs/haystack-indexes/100000/haystack \
        --grid nprobe=8,16 --grid centroid_docs=256,1024 [--out docs/results/sweep]

`--index` is a saved index folder, or a version root (the folder `save_version` writes versions
into: its live version is opened, else its newest). Each judged query is encoded once with the index's own
encoder; every combination of the `--grid` values (read by the index at search time) then searches
the same query vectors one at a time (k=100, after one warm-up query), so latencies are search
alone. Documents without judgments (a haystack's distractors) count as not relevant. Rows report
nDCG@10, Recall@100, p50/p95 milliseconds and the paired randomization test of nDCG@10 against the
first combination (the index's saved settings for any key left out of the grid).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.beir import quality
from evals.datasets import load_beir
from evals.metrics import ndcg_at_k, per_query
from evals.paired import paired_comparison
from evals.report import markdown_table, write_report
from indexers.base import Index
from indexers.errors import IndexNotFound
from indexers.registry import open_index
from indexers.storage.versions import current_path, list_versions

__all__ = ["main", "markdown", "open_saved", "parse_grid", "sweep"]

SEARCH_K = 100


def open_saved(path: Path) -> Index:
    """A saved index folder, or under a version root its live version, else its newest."""
    if (path / "manifest.json").exists():
        return open_index(path)
    try:
        return open_index(current_path(path.parent, path.name))
    except IndexNotFound:
        versions = list_versions(path.parent, path.name)
        if not versions:
            raise
        return open_index(path / versions[-1])


def parse_grid(items: Sequence[str]) -> list[dict[str, int]]:
    """`["nprobe=8,16", "centroid_docs=256"]` -> every combination, the first values first."""
    axes = []
    for item in items:
        key, _, values = item.partition("=")
        if not key or not values:
            raise ValueError(f"--grid wants KEY=V1,V2,..., got {item!r}")
        axes.append([(key.strip(), int(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def sweep(index: Any, queries: dict[str, Any], grid: list[dict[str, int]]) -> list[dict[str, Any]]:
    """Search the encoded `queries` once per setting of `grid`; ranked ids and latencies per point."""
    base = index.config
    points = []
    for settings in grid:
        index.config = base.model_copy(update=settings)  # read at search time
        ids = list(queries)
        index.search_encoded([queries[ids[0]]], k=SEARCH_K)  # warm-up
        ranked, latencies = {}, []
        for query_id in ids:
            start = time.perf_counter()
            hits = index.search_encoded([queries[query_id]], k=SEARCH_K)[0]
            latencies.append((time.perf_counter() - start) * 1000)
            ranked[query_id] = [h.doc_id for h in hits]
        points.append({"settings": settings, "ranked": ranked, "latencies_ms": latencies})
    index.config = base
    return points


def markdown(rows: list[dict[str, Any]], notes: list[str]) -> str:
    header = (
        "settings",
        "nDCG@10",
        "Recall@100",
        "MRR@10",
        "p50 ms",
        "p95 ms",
        "vs first: diff",
        "W / L / T",
        "p",
    )
    table = []
    for row in rows:
        test = row.get("paired")
        table.append(
            (
                ", ".join(f"{k}={v}" for k, v in row["settings"].items()),
                f"{row['ndcg_at_10']:.3f}",
                f"{row['recall_at_100']:.3f}",
                f"{row['mrr_at_10']:.3f}",
                f"{row['p50_ms']:.1f}",
                f"{row['p95_ms']:.1f}",
                f"{test['mean_diff']:+.4f}" if test else None,
                f"{test['wins']} / {test['losses']} / {test['ties']}" if test else None,
                f"{test['p_value']:.3f}" if test else None,
            )
        )
    return markdown_table(header, table) + "\n\n" + "\n\n".join(notes) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.search_sweep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--index", type=Path, required=True, help="saved index folder or version root")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="repeatable")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args(argv)
    try:
        grid = parse_grid(args.grid) or [{}]
    except ValueError as exc:
        parser.error(str(exc))
    dataset = load_beir(args.data, args.split)
    index: Any = open_saved(args.index)
    if not hasattr(index, "search_encoded"):
        parser.error(f"{index.kind} has no encoded search; sweep colbert_pooled or xtr")
    load_before = os.getloadavg()
    encoded = index.encoder.encode(list(dataset.queries.values()), is_query=True)
    queries = dict(zip(dataset.queries, encoded, strict=True))
    rows = []
    for point in sweep(index, queries, grid):
        latencies = np.asarray(point["latencies_ms"])
        rows.append(
            {
                "settings": point["settings"],
                **quality(point["ranked"], dataset),
                "ndcg_per_query": per_query(ndcg_at_k, point["ranked"], dataset.qrels, 10),
                "p50_ms": float(np.percentile(latencies, 50)),
                "p95_ms": float(np.percentile(latencies, 95)),
                "hits_mean": float(np.mean([len(r) for r in point["ranked"].values()])),
            }
        )
    first = rows[0]["ndcg_per_query"]
    for row in rows[1:]:
        row["paired"] = paired_comparison(row["ndcg_per_query"], first)
    command = "python -m benchmarks.search_sweep " + " ".join(sys.argv[1:] if argv is None else argv)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = [
        f"{index.kind} over {index.docs.size:,} documents; "
        f"{len(dataset.queries)} judged {args.split} queries, "
        f"encoded once; latencies are search alone (k={SEARCH_K}, one query at a time).",
        f"Saved settings: `{json.dumps(index.config.model_dump(mode='json'))}`.",
        f"Generated {when} by `{command}`; {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.1f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} after.",
    ]
    text = f"# Search settings sweep: {args.data.name} / {args.split}\n\n" + markdown(rows, notes)
    print(text)
    if args.out is not None:
        write_report(args.out, text, {"rows": rows, "command": command, "when": when})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
