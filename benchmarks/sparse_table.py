"""Vocabulary-space kinds (SLIM, LENS) against BM25, dense and token-pooled ColBERT on one BEIR split.

    python -m benchmarks.sparse_table --data ../shared/data/scifact --split dev [--sample-docs N] [--only K]

Every configuration runs through `evals.beir.run` (build, save, reopen from disk, one warm-up query,
then every judged query one at a time for 100 hits) in this one process. Document encodings are
computed once per model and reused across configurations (`slim` with and without refinement share
the SPLADE token vectors; `lens + dense` reuses the `lens` and `dense` document vectors); query
encodings are never cached, so latencies include encoding the query. Build times of configurations
that reused encodings are therefore not comparable and are not reported in the table (they are in
the JSON). `--sample-docs N` keeps every document judged for the split's queries and fills up to N
with the others in file order (a subsample for a shared machine; the report says so). Writes
`docs/results/<dataset>-<split>-sparse[-sampleN].md` and `.json`.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import os
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.beir import EvalResult, run
from evals.datasets import BeirDataset, load_beir
from indexers.configs import parse_config
from indexers.models.encoders import TokenEncoder, VocabEncoder

__all__ = ["LINEUP", "Entry", "cached_document_encodings", "main", "sample_docs", "targets"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the table: a label and an index config (a dict for `parse_config`)."""

    label: str
    config: dict[str, Any]


LINEUP = (
    Entry("bm25", {"kind": "bm25"}),
    Entry("dense", {"kind": "dense"}),
    Entry("colbert_pooled pool_factor=1", {"kind": "colbert_pooled", "pool_factor": 1}),
    Entry("slim first stage", {"kind": "slim", "refine": False}),
    Entry("slim refined", {"kind": "slim"}),
    Entry("lens", {"kind": "lens"}),
    Entry("lens + dense", {"kind": "lens", "dense": {"model": "minilm"}}),
)


def _key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
    return value


@contextmanager
def cached_document_encodings() -> Iterator[None]:
    """Memoise document (never query) encodings per encoder config, options and text, in this process."""
    cache: dict[Any, dict[str, Any]] = {}
    patched: list[tuple[type, str, Callable[..., Any]]] = []

    def memoise(owner: type, name: str, stack: Callable[[list[Any]], Any]) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(self: Any, texts: Sequence[str], *, is_query: bool, **options: Any) -> Any:
            if is_query:
                return original(self, texts, is_query=is_query, **options)
            progress = options.pop("progress", None)
            store = cache.setdefault((name, self.config, tuple(sorted(_key_items(options)))), {})
            missing = [t for t in dict.fromkeys(texts) if t not in store]
            if missing:
                encoded = original(self, missing, is_query=False, progress=progress, **options)
                store.update(zip(missing, encoded, strict=True))
            return stack([store[t] for t in texts])

        setattr(owner, name, wrapper)
        patched.append((owner, name, original))

    def _key_items(options: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(k, _key(v)) for k, v in options.items()]

    memoise(TokenEncoder, "encode_dense", lambda rows: np.stack(rows))
    memoise(VocabEncoder, "encode", list)
    memoise(VocabEncoder, "encode_clusters", lambda rows: np.stack(rows))
    try:
        yield
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)


def sample_docs(dataset: BeirDataset, size: int) -> BeirDataset:
    """Every judged document of the split, then the others in file order, up to `size` documents."""
    judged = {doc_id for judgments in dataset.qrels.values() for doc_id in judgments}
    keep = {d.id for d in dataset.docs if d.id in judged}
    for doc in dataset.docs:
        if len(keep) >= size:
            break
        keep.add(doc.id)
    docs = [d for d in dataset.docs if d.id in keep]
    return BeirDataset(dataset.name, dataset.split, docs, dataset.queries, dataset.qrels, len(docs))


def targets(results: dict[str, EvalResult]) -> list[str]:
    """The issue's targets, checked against measured results (one line each; absent rows skipped)."""
    lines = []
    colbert, slim = results.get("colbert_pooled pool_factor=1"), results.get("slim refined")
    first, lens, dense = results.get("slim first stage"), results.get("lens"), results.get("dense")
    fused = results.get("lens + dense")
    if colbert and slim:
        size = slim.index_bytes / colbert.index_bytes
        lines.append(
            f"- slim index size / colbert_pooled (pool factor 1): {size:.3f} (target at most 0.333): "
            f"{'met' if size <= 1 / 3 else 'missed'}"
        )
        for label, row in (("refined", slim), ("first stage", first)):
            if row is not None:
                ratio = row.latency_ms_p50 / colbert.latency_ms_p50
                lines.append(
                    f"- slim {label} p50 latency / colbert_pooled p50: {ratio:.3f} (target at most 0.5): "
                    f"{'met' if ratio <= 0.5 else 'missed'}"
                )
    if first and slim:
        gain = slim.ndcg_at_10 - first.ndcg_at_10
        lines.append(
            f"- refinement nDCG@10 gain over the first stage: {gain:+.3f} (target > 0): "
            f"{'met' if gain > 0 else 'missed'}"
        )
    if fused and lens and dense:
        margin = fused.ndcg_at_10 - max(lens.ndcg_at_10, dense.ndcg_at_10)
        lines.append(
            f"- lens + dense nDCG@10 minus the better of lens and dense: {margin:+.3f} (target > 0): "
            f"{'met' if margin > 0 else 'missed'}"
        )
    return lines


def _table(results: Sequence[EvalResult]) -> str:
    lines = [
        "| kind/config | nDCG@10 | Recall@100 | p50 ms | p95 ms | index MB | bytes/doc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.ndcg_at_10:.3f} | {r.recall_at_100:.3f} | {r.latency_ms_p50:.1f} | "
            f"{r.latency_ms_p95:.1f} | {r.index_bytes / 2**20:.1f} | {r.bytes_per_doc:.0f} |"
        )
    return "\n".join(lines)


def _report(dataset: str, args: argparse.Namespace, results: list[EvalResult], failed: list[str]) -> str:
    first = results[0]
    scope = (
        f" (subsample: every document judged for these queries, then the corpus in file order up to "
        f"{args.sample_docs})"
        if args.sample_docs
        else ""
    )
    lines = [
        f"# BEIR {dataset} / {args.split}: vocabulary-space kinds",
        "",
        f"{first.num_docs} documents, {first.num_queries} judged queries{scope}. Generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.sparse_table` on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs: "
        f"latencies were measured under contention), Python {platform.python_version()}.",
        "",
        "All configurations ran in one process with document encodings computed once per model. "
        "Latency: one query at a time (query encoding included) against the index reopened from disk, "
        "k=100, after one warm-up query. Index MB and bytes/doc are the saved folder's size.",
        "",
        _table(results),
        "",
        "Targets:",
        "",
        *targets({r.label: r for r in results}),
    ]
    if failed:
        lines += ["", f"Failed (see the run's log): {', '.join(failed)}."]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sparse_table",
        description="SLIM and LENS against BM25, dense and colbert_pooled on a BEIR split, one process.",
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout dataset folder")
    parser.add_argument("--split", required=True, help="qrels split, e.g. dev")
    parser.add_argument("--only", help="comma-separated labels or kinds to run (default: the whole lineup)")
    parser.add_argument("--sample-docs", type=int, help="subsample: judged documents + others up to N")
    parser.add_argument(
        "--results-dir", type=Path, default=Path("docs/results"), help="table and JSON go here"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the lineup; 0 when every configuration succeeded, 1 if any failed, 2 on bad arguments."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    wanted = {w.strip() for w in (args.only or "").split(",") if w.strip()}
    entries = [e for e in LINEUP if not wanted or e.label in wanted or e.config["kind"] in wanted]
    if not entries or not args.data.is_dir():
        print("benchmarks.sparse_table: error: no configuration selected or no dataset", file=sys.stderr)
        return 2
    dataset = load_beir(args.data, args.split)
    if args.sample_docs:
        dataset = sample_docs(dataset, args.sample_docs)
    results: list[EvalResult] = []
    failed: list[str] = []
    with cached_document_encodings():
        for entry in entries:
            print(f"== {entry.label}", file=sys.stderr, flush=True)
            try:
                results.append(run(parse_config(entry.config), dataset, label=entry.label))
            except Exception as exc:  # noqa: BLE001 - one failed configuration must not lose the others
                print(f"== {entry.label}: failed: {exc!r}", file=sys.stderr)
                failed.append(entry.label)
            gc.collect()
            if results and results[-1].label == entry.label:
                print(_table(results[-1:]), file=sys.stderr, flush=True)
    if not results:
        return 1
    stem = f"{dataset.name}-{args.split}-sparse" + (f"-sample{args.sample_docs}" if args.sample_docs else "")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    table = args.results_dir / f"{stem}.md"
    table.write_text(_report(dataset.name, args, results, failed), encoding="utf-8")
    combined = {"results": [r.model_dump(mode="json") for r in results], "failed": failed}
    table.with_suffix(".json").write_text(json.dumps(combined, indent=2) + "\n", encoding="utf-8")
    print(_table(results))
    print("\n".join(targets({r.label: r for r in results})))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
