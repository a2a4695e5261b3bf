"""Run a lineup (a TOML run list) on one BEIR-layout dataset, each run in its own process, into one table.

    python -m benchmarks.run benchmarks/lineups/beir.toml --data ../shared/data/scifact --split dev \
        [--only bm25,dense] [--limit-docs N | --sample-docs N] [--results-dir docs/results] \
        [--runs-dir runs] [--keep-indexes DIR]

A lineup file names itself and lists its runs:

    name = "beir"                  # results go to <dataset>-<split>-<name>[-limitN|-sampleN].md / .json
    title = "BEIR"                 # the report's heading
    notes = "..."                  # optional paragraph under the heading
    baseline = "bm25"              # optional: compare every other run with this one, query by query

    [[run]]
    name = "colbert_pooled pool_factor=2 int8"    # the row's label
    kind = "colbert_pooled"
    config = { pool_factor = 2, encoder = { quantize = "int8" } }   # overrides of the kind's defaults
    split = "dev"                  # optional: this run's qrels split instead of --split
    sample_queries = 40            # optional: a seeded sample of the split's queries (seed 0)
    title_queries = 60             # optional, instead: known-item queries (see evals.beir)
    baseline = "bm25"              # optional: compare this run with that run instead of the lineup's

    [[run]]
    name = "dense + bm25 (RRF)"    # a fused row: no index of its own
    kind = "rrf"                   # reciprocal rank fusion (indexers.scoring.fusion.rrf) of the runs'
    fuse = ["dense", "bm25"]       # top-100 lists, equal weights, rrf k = config.k (default 60)

Each run is `python -m evals.beir` in a fresh subprocess (peak RSS and model caches per run). Each
run's JSON is kept under `--runs-dir`; the table and every result go to `--results-dir`
(`evals.report`). With a `baseline`, the report adds each run's per-query nDCG@10 against it (mean
difference, wins / losses / ties, paired sign-flip randomization p; `evals.paired`), for runs scored
on the same queries; a run naming its own `baseline` is compared with that one instead. A fused row
needs no build: selecting it (`--only`) also runs its members; its cost columns are the sums of its
members' (two indexes searched one after the other). Exits 1 if a run failed, 2 for a bad lineup or
bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals import report
from evals.beir import EvalResult, markdown_table, quality, result_filename
from evals.datasets import load_beir
from evals.metrics import ndcg_at_k, per_query
from evals.paired import paired_comparison
from indexers.cli_args import parse_args
from indexers.scoring.fusion import rrf

FUSED_KIND = "rrf"
"""The kind of a fused row: reciprocal rank fusion of other runs' rankings."""
RRF_K = 60
"""The rank offset of a fused row whose config sets no `k`."""

__all__ = ["Lineup", "Run", "load_lineup", "main", "paired_against"]


class Run(BaseModel):
    """One row of a lineup: a label, an index kind, overrides of its default config, an optional
    split, an optional query sample (`sample_queries`) or known-item task (`title_queries`), and an
    optional baseline of its own; or a fused row (`kind = "rrf"`, `fuse`: the runs it fuses)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    split: str | None = None
    sample_queries: int | None = Field(None, ge=1)
    title_queries: int | None = Field(None, ge=1)
    baseline: str | None = Field(None, description="name of the run this one is compared with")
    fuse: list[str] = Field(default_factory=list, description="runs whose rankings a kind 'rrf' row fuses")

    @model_validator(mode="after")
    def _one_query_set(self) -> Run:
        if self.sample_queries is not None and self.title_queries is not None:
            raise ValueError(f"run {self.name!r}: give sample_queries or title_queries, not both")
        if (self.kind == FUSED_KIND) != bool(self.fuse):
            raise ValueError(f"run {self.name!r}: kind {FUSED_KIND!r} goes with fuse (two runs or more)")
        if self.fuse and (len(set(self.fuse)) < 2 or set(self.config) - {"k"}):
            raise ValueError(f"run {self.name!r}: fuse two runs or more; the only config is k")
        return self


class Lineup(BaseModel):
    """A run list: its name (in result file names), the report's title and notes, an optional
    baseline run for per-query comparisons, and the runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    notes: str = ""
    baseline: str | None = Field(None, description="name of the run the others are compared with")
    runs: list[Run] = Field(alias="run", min_length=1)

    @model_validator(mode="after")
    def _baseline_is_a_run(self) -> Lineup:
        names = {r.name for r in self.runs}
        for baseline in [self.baseline, *(r.baseline for r in self.runs)]:
            if baseline is not None and baseline not in names:
                raise ValueError(f"baseline {baseline!r} names no run")
        for position, run in enumerate(self.runs):
            earlier = {r.name for r in self.runs[:position] if not r.fuse}
            if missing := [name for name in run.fuse if name not in earlier]:
                raise ValueError(f"run {run.name!r} fuses {missing[0]!r}, which is no earlier index run")
        return self


def load_lineup(path: Path) -> Lineup:
    """Read and validate a lineup file.

    Raises:
        ValueError: the file is unreadable, not TOML, does not validate, or repeats a run name.
    """
    try:
        lineup = Lineup.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ValueError(f"bad lineup {path}: {exc}") from exc
    names = [run.name for run in lineup.runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"bad lineup {path}: run names appear twice: {', '.join(repeated)}")
    return lineup


def _select(lineup: Lineup, only: str | None) -> list[Run]:
    if not only:
        return list(lineup.runs)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    known = {r.kind for r in lineup.runs} | {r.name for r in lineup.runs}
    if wanted - known:
        raise ValueError(
            f"--only names no run: {', '.join(sorted(wanted - known))}; known: {', '.join(sorted(known))}"
        )
    chosen = {r.name for r in lineup.runs if r.kind in wanted or r.name in wanted}
    chosen |= {name for r in lineup.runs if r.name in chosen for name in r.fuse}  # a fused row's members
    return [r for r in lineup.runs if r.name in chosen]


def _scope(args: argparse.Namespace) -> str:
    if args.limit_docs:
        return f"-limit{args.limit_docs}"
    return f"-sample{args.sample_docs}" if args.sample_docs else ""


def _run_one(run: Run, args: argparse.Namespace, split: str, out: Path) -> EvalResult | None:
    with tempfile.TemporaryDirectory(prefix="tessera-run-") as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"kind": run.kind, **run.config}), encoding="utf-8")
        command = [
            sys.executable, "-m", "evals.beir",
            "--data", str(args.data), "--split", split,
            "--config", str(config), "--label", run.name, "--out", str(out),
        ]  # fmt: skip
        if args.limit_docs is not None:
            command += ["--limit-docs", str(args.limit_docs)]
        if args.sample_docs is not None:
            command += ["--sample-docs", str(args.sample_docs)]
        if run.sample_queries is not None:
            command += ["--sample-queries", str(run.sample_queries)]
        if run.title_queries is not None:
            command += ["--title-queries", str(run.title_queries)]
        if args.keep_indexes is not None:
            command += ["--index-dir", str(args.keep_indexes / out.stem)]
        out.unlink(missing_ok=True)
        print(f"== {run.name}: {' '.join(command)}", file=sys.stderr, flush=True)
        child = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
        print(child.stdout, end="", file=sys.stderr)  # the run's own table; stdout keeps the final one
        code = child.returncode
    if code != 0 or not out.is_file():
        print(f"== {run.name}: failed with exit code {code}", file=sys.stderr)
        return None
    return EvalResult.model_validate_json(out.read_text(encoding="utf-8"))


def _fused(
    run: Run, done: Mapping[str, EvalResult], args: argparse.Namespace, split: str
) -> EvalResult | None:
    """The fused row `run`: reciprocal rank fusion of its members' rankings, scored on their queries."""
    members = [done.get(name) for name in run.fuse]
    if any(m is None or not m.ranked or m.split != split for m in members):
        print(f"== {run.name}: a fused run failed or has no rankings on {split}", file=sys.stderr)
        return None
    parts = [m for m in members if m is not None]
    if any(m.ranked.keys() != parts[0].ranked.keys() or m.num_docs != parts[0].num_docs for m in parts):
        print(f"== {run.name}: its runs searched different queries or corpora", file=sys.stderr)
        return None
    weights = {m.label: 1.0 for m in parts}
    ranked = {
        query: [
            doc
            for doc, _ in rrf({m.label: m.ranked[query] for m in parts}, weights, run.config.get("k", RRF_K))
        ]
        for query in parts[0].ranked
    }
    judged = load_beir(args.data, split)
    dataset = replace(judged, qrels={query: judged.qrels[query] for query in ranked})
    first = parts[0]
    build_s = sum(m.build_s for m in parts)
    return EvalResult(
        label=run.name,
        kind=FUSED_KIND,
        config={"fuse": run.fuse, "k": run.config.get("k", RRF_K)},
        dataset=first.dataset,
        split=split,
        limit_docs=first.limit_docs,
        num_docs=first.num_docs,
        num_queries=len(ranked),
        **quality(ranked, dataset),
        build_s=build_s,
        build_docs_per_s=first.num_docs / max(build_s, 1e-9),
        index_bytes=sum(m.index_bytes for m in parts),
        bytes_per_doc=sum(m.bytes_per_doc for m in parts),
        num_vectors=None,
        latency_ms_p50=sum(m.latency_ms_p50 for m in parts),
        latency_ms_p95=sum(m.latency_ms_p95 for m in parts),
        latency_ms_mean=sum(m.latency_ms_mean for m in parts),
        peak_rss_mb=sum(m.peak_rss_mb for m in parts),
        created_at=datetime.now(UTC),
        ndcg_at_10_per_query=per_query(ndcg_at_k, ranked, dataset.qrels, 10),
        ranked=ranked,
    )


def paired_against(
    baseline: str | None, results: list[EvalResult], own: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per-query nDCG@10 of every other result against the `baseline` result, or the result that
    `own` names for its label (`evals.paired`; each comparison also names its `baseline`), for results
    scored on exactly the baseline's queries; empty without a baseline result."""
    by_label = {r.label: r for r in results}
    paired: dict[str, dict[str, Any]] = {}
    for r in results:
        base = by_label.get((own or {}).get(r.label, baseline or ""))
        if base is None or base is r or not base.ndcg_at_10_per_query:
            continue
        if r.ndcg_at_10_per_query.keys() == base.ndcg_at_10_per_query.keys():
            comparison = paired_comparison(r.ndcg_at_10_per_query, base.ndcg_at_10_per_query)
            paired[r.label] = {"baseline": base.label, **comparison}
    return paired


def _own_baselines(lineup: Lineup) -> dict[str, str]:
    return {r.name: r.baseline for r in lineup.runs if r.baseline is not None}


def _markdown(lineup: Lineup, args: argparse.Namespace, results: list[EvalResult], failed: list[str]) -> str:
    first = results[0]
    counts = {r.split: r.num_queries for r in results}
    queries = ", ".join(f"{n} ({split})" for split, n in counts.items())
    scope = ""
    if args.limit_docs:
        scope = f", corpus cut to its first {args.limit_docs} documents (smoke run)"
    elif args.sample_docs:
        scope = (
            f", subsample: every document judged for the split's queries, then the corpus in file order "
            f"up to {args.sample_docs} (scores are only comparable to runs on the same subsample)"
        )
    lines = [
        f"# {lineup.title}: {first.dataset} / {', '.join(counts)}",
        "",
        f"{first.num_docs} documents; judged queries: {queries}{scope}. Generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.run` ({lineup.name} lineup) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}.",
        "",
        "Each run went through `evals.beir` in its own process (peak RSS is per run). Latency: one query "
        "at a time (query encoding included) against the index reopened from disk, k=100, after one "
        "warm-up query. Build docs/s covers encoding and indexing; index MB and bytes/doc are the saved "
        "folder's size.",
    ]
    if lineup.notes:
        lines += ["", lineup.notes.strip()]
    lines += ["", markdown_table(results)]
    paired = paired_against(lineup.baseline, results, _own_baselines(lineup))
    if paired:
        lines += ["", *report.paired_table((label, c["baseline"], c) for label, c in paired.items())]
    if failed:
        lines += ["", f"Failed (see the run's log): {', '.join(failed)}."]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Evaluate the runs of a lineup file on a BEIR-layout dataset, one process each.",
    )
    parser.add_argument("lineup", type=Path, help="lineup TOML, e.g. benchmarks/lineups/beir.toml")
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout dataset folder")
    parser.add_argument("--split", help="qrels split of runs that name none, e.g. dev")
    parser.add_argument("--only", help="comma-separated run names or kinds (default: every run)")
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument("--limit-docs", type=int, help="smoke run: keep only the first N documents")
    cut.add_argument("--sample-docs", type=int, help="subsample: judged documents, then others, N in all")
    parser.add_argument("--results-dir", type=Path, default=Path("docs/results"), help="table and JSON")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="each run's JSON")
    parser.add_argument(
        "--keep-indexes", type=Path, help="keep each run's saved index in DIR/<run file stem> (must be new)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a lineup; 0 when every run succeeded, 1 if one failed, 2 for bad arguments or a bad lineup."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        lineup = load_lineup(args.lineup)
        runs = _select(lineup, args.only)
        if not args.data.is_dir():
            raise ValueError(f"dataset folder not found: {args.data}")
        unsplit = [r.name for r in runs if r.split is None]
        if unsplit and args.split is None:
            raise ValueError(f"--split is needed: these runs name no split: {', '.join(unsplit)}")
    except ValueError as exc:
        print(f"benchmarks.run: error: {exc}", file=sys.stderr)
        return 2

    dataset = args.data.resolve().name
    results: list[EvalResult] = []
    failed: list[str] = []
    for run in runs:
        split = run.split or args.split
        out = args.runs_dir / result_filename(dataset, split, run.name, args.limit_docs or args.sample_docs)
        if run.fuse:
            result = _fused(run, {r.label: r for r in results}, args, split)
        else:
            result = _run_one(run, args, split, out)
        if result is None:
            failed.append(run.name)
        else:
            results.append(result)
    if not results:
        print("benchmarks.run: every run failed; nothing written", file=sys.stderr)
        return 1
    stem = args.results_dir / f"{dataset}-{args.split or results[0].split}-{lineup.name}{_scope(args)}"
    data = {
        "lineup": lineup.model_dump(mode="json", by_alias=True),
        "dataset": dataset,
        "limit_docs": args.limit_docs,
        "sample_docs": args.sample_docs,
        "results": [r.model_dump(mode="json") for r in results],
        "paired": paired_against(lineup.baseline, results, _own_baselines(lineup)),
        "failed": failed,
    }
    md, js = report.write_report(stem, _markdown(lineup, args, results, failed), data)
    print(markdown_table(results))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
