"""Run a lineup of index configurations on one BEIR split, each in its own process, into one table.

    python -m benchmarks.beir_table --data ../shared/data/scifact --split dev [--only bm25,dense]

Each configuration runs as `python -m evals.beir` in a fresh subprocess, so peak RSS and model
caches are per configuration. Writes `docs/results/<dataset>-<split>.md` (Markdown table) and
`.json` (every result), keeps each run's JSON under `runs/`, and exits 1 if any configuration failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evals.beir import EvalResult, markdown_table, result_filename

__all__ = ["DEFAULT_LINEUP", "Entry", "main"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One configuration of the lineup: a table label, an index kind and `key=value` overrides."""

    label: str
    kind: str
    overrides: tuple[str, ...] = ()


DEFAULT_LINEUP = (
    Entry("bm25", "bm25"),
    Entry("dense", "dense"),
    Entry("exact", "exact"),
    *(
        Entry(f"colbert_pooled pool_factor={factor}", "colbert_pooled", (f"pool_factor={factor}",))
        for factor in (2, 3, 4)
    ),
    Entry(
        "colbert_pooled pool_factor=2 int8",
        "colbert_pooled",
        ("pool_factor=2", 'encoder.quantize="int8"'),
    ),
)
"""bm25, dense MiniLM, exact MaxSim MiniLM, token-pooled ColBERT MiniLM at pool factors 2, 3, 4, and
pool factor 2 with the encoder's linear layers quantised to int8 (the CPU build-speed option)."""


def _select(lineup: tuple[Entry, ...], only: str | None) -> list[Entry]:
    if not only:
        return list(lineup)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {e.kind for e in lineup} - {e.label for e in lineup}
    if unknown:
        known = sorted({e.kind for e in lineup} | {e.label for e in lineup})
        raise ValueError(
            f"--only names no configuration: {', '.join(sorted(unknown))}; known: {', '.join(known)}"
        )
    return [e for e in lineup if e.kind in wanted or e.label in wanted]


def _run_one(entry: Entry, args: argparse.Namespace, out: Path) -> EvalResult | None:
    command = [
        sys.executable, "-m", "evals.beir",
        "--data", str(args.data), "--split", args.split,
        "--kind", entry.kind, "--label", entry.label, "--out", str(out),
    ]  # fmt: skip
    for override in entry.overrides:
        command += ["--set", override]
    if args.limit_docs is not None:
        command += ["--limit-docs", str(args.limit_docs)]
    out.unlink(missing_ok=True)
    print(f"== {entry.label}: {' '.join(command)}", file=sys.stderr, flush=True)
    completed = subprocess.run(command, check=False, stdout=sys.stderr)  # stdout keeps only the final table
    if completed.returncode != 0 or not out.is_file():
        print(f"== {entry.label}: failed with exit code {completed.returncode}", file=sys.stderr)
        return None
    return EvalResult.model_validate_json(out.read_text(encoding="utf-8"))


def _report(dataset: str, args: argparse.Namespace, results: list[EvalResult], failed: list[str]) -> str:
    first = results[0]
    scope = f", corpus cut to its first {args.limit_docs} documents (smoke run)" if args.limit_docs else ""
    lines = [
        f"# BEIR {dataset} / {args.split}",
        "",
        f"{first.num_docs} documents, {first.num_queries} judged queries{scope}. "
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.beir_table` on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}.",
        "",
        "Each configuration ran in its own process (peak RSS is per configuration). Latency: one query "
        "at a time against the index reopened from disk, k=100, after one warm-up query. Build docs/s "
        "covers encoding and indexing; index MB and bytes/doc are the saved folder's size.",
        "",
        markdown_table(results),
    ]
    if failed:
        lines += ["", f"Failed (see the run's log): {', '.join(failed)}."]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.beir_table",
        description="Evaluate a lineup of index configurations on a BEIR split, one process each.",
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout dataset folder")
    parser.add_argument("--split", required=True, help="qrels split, e.g. dev")
    parser.add_argument("--only", help="comma-separated kinds or labels to run (default: the whole lineup)")
    parser.add_argument("--limit-docs", type=int, help="smoke run: keep only the first N documents")
    parser.add_argument(
        "--results-dir", type=Path, default=Path("docs/results"), help="table and JSON go here"
    )
    parser.add_argument(
        "--runs-dir", type=Path, default=Path("runs"), help="each configuration's JSON goes here"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the lineup; returns 0 when every configuration succeeded, 1 if any failed, 2 on bad arguments."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        entries = _select(DEFAULT_LINEUP, args.only)
    except ValueError as exc:
        print(f"benchmarks.beir_table: error: {exc}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"benchmarks.beir_table: error: dataset folder not found: {args.data}", file=sys.stderr)
        return 2

    dataset = args.data.resolve().name
    stem = f"{dataset}-{args.split}" + (f"-limit{args.limit_docs}" if args.limit_docs else "")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    results: list[EvalResult] = []
    failed: list[str] = []
    for entry in entries:
        out = args.runs_dir / result_filename(dataset, args.split, entry.label, args.limit_docs)
        result = _run_one(entry, args, out)
        if result is None:
            failed.append(entry.label)
        else:
            results.append(result)
    if not results:
        print("benchmarks.beir_table: every configuration failed; nothing written", file=sys.stderr)
        return 1

    args.results_dir.mkdir(parents=True, exist_ok=True)
    table = args.results_dir / f"{stem}.md"
    table.write_text(_report(dataset, args, results, failed), encoding="utf-8")
    combined = {
        "dataset": dataset,
        "split": args.split,
        "limit_docs": args.limit_docs,
        "results": [r.model_dump(mode="json") for r in results],
        "failed": failed,
    }
    (args.results_dir / f"{stem}.json").write_text(json.dumps(combined, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(results))
    print(f"wrote {table} and {table.with_suffix('.json')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
