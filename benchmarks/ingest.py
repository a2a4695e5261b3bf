"""Indexing cost of a collection's kinds: one kind alone against several kinds over one encoder,
with the job's shared encodings and without, side by side in one run.

    python -m benchmarks.ingest --data ../shared/data/scifact [--docs 1000] \
        [--kinds dense,colbert_pooled,xtr,exact] [--alone colbert_pooled] [--cache-mb 2048]

Each row indexes the same documents into a fresh collection folder the way an index job does
(one build entry in the write log, `workers.sync.sync_collection`, every kind committed together),
in its own process so no model or memory carries over, and reports wall seconds, documents per
second, CPU seconds (which a busy machine inflates less than wall time), the ratios to the single
kind, and peak resident memory. Writes
`docs/results/<dataset>-ingest.md` and `.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.report import cell, markdown_table, write_report
from indexers.cli_args import parse_args
from indexers.configs import parse_config
from indexers.corpus import read_corpus
from indexers.storage.versions import atomic_write
from service.jobs import CollectionSpec, Layout
from service.writelog import doc_line
from workers.sync import sync_collection

__all__ = ["index_once", "main"]


def index_once(corpus: Path, docs: int | None, kinds: list[str], cache_mb: int) -> dict[str, Any]:
    """Index the first `docs` documents of `corpus` into `kinds` in a temporary collection; returns
    wall and CPU seconds (all threads of this process), documents and peak RSS (MB)."""
    documents = list(read_corpus(corpus, limit=docs))
    with tempfile.TemporaryDirectory(prefix="tessera-ingest-") as folder:
        layout = Layout(Path(folder))
        spec = CollectionSpec(name="c", tenant="t", configs=[parse_config({"kind": kind}) for kind in kinds])
        atomic_write(layout.spec_file("t", "c"), spec.model_dump_json())
        log = layout.write_log("t", "c")
        with log.appending():
            entry = log.append("build", "ingest", [doc_line(doc) for doc in documents])
            log.mark_stored(entry.seq)
        start, cpu = time.perf_counter(), time.process_time()
        result = sync_collection(
            spec,
            layout.index_root("t", "c"),
            log,
            keep=1,
            cancelled=lambda _job: False,
            progress=lambda _done, _total: None,
            check=lambda: None,
            cache_bytes=cache_mb * 2**20,
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "documents": result["documents"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _row(args: argparse.Namespace, kinds: list[str], cache_mb: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.ingest", "--data", str(args.data), "--row", ",".join(kinds)]
    command += ["--cache-mb", str(cache_mb)] + (["--docs", str(args.docs)] if args.docs else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return {"kinds": kinds, "cache_mb": cache_mb, **json.loads(done.stdout.splitlines()[-1])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a BEIR folder (corpus.jsonl)")
    parser.add_argument("--docs", type=int, default=None, help="the first N documents (default: all)")
    parser.add_argument("--kinds", default="dense,colbert_pooled,xtr,exact", help="kinds of the collection")
    parser.add_argument("--alone", default="colbert_pooled", help="the single kind to compare with")
    parser.add_argument("--cache-mb", type=int, default=2048, help="shared encodings bound (MB)")
    parser.add_argument("--out", type=Path, default=None, help="report stem (default docs/results/...)")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    corpus = args.data / "corpus.jsonl"
    if args.row:
        print(json.dumps(index_once(corpus, args.docs, args.row.split(","), args.cache_mb)))
        return 0
    kinds = args.kinds.split(",")
    rows = [
        _row(args, [args.alone], args.cache_mb),
        _row(args, kinds, args.cache_mb),
        _row(args, kinds, 0),
    ]
    base = rows[0]
    table = markdown_table(
        ["kinds", "shared encodings", "seconds", "docs/s", "x alone", "CPU s", "CPU x alone", "peak RSS MB"],
        [
            [
                ", ".join(row["kinds"]),
                f"{row['cache_mb']} MB" if row["cache_mb"] else "off",
                cell(row["seconds"], ".1f"),
                cell(row["documents"] / row["seconds"], ".1f"),
                cell(row["seconds"] / base["seconds"], ".2f"),
                cell(row["cpu_seconds"], ".1f"),
                cell(row["cpu_seconds"] / base["cpu_seconds"], ".2f"),
                cell(row["peak_rss_mb"], ",.0f"),
            ]
            for row in rows
        ],
        text_columns=2,
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Indexing cost by kinds ({args.data.name}, {rows[0]['documents']} documents, {when})"
    text = f"# {title}\n\n{table}\n"
    stem = args.out or Path("docs/results") / f"{args.data.name}-ingest"
    write_report(stem, text, {"rows": rows, "docs": args.docs, "data": str(args.data), "when": when})
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
