"""Resident memory of serving a saved index: open it in a fresh process and search a split's queries.

    python -m evals.beir --data ../shared/data/scifact --split dev --kind colbert_pooled \
        --index-dir runs/scifact-colbert_pooled          # build and save the index once
    python -m benchmarks.serving_memory --data ../shared/data/scifact --split dev \
        --index-dir runs/scifact-colbert_pooled [--index-dir another/saved/index ...] \
        [--modes mmap,in-memory] [--results-dir docs/results]

Each index and mode runs in its own fresh process, which reads the dataset, opens the index (`open_index`),
then searches every judged query one at a time after one warm-up query (`evals.beir.search_judged`;
the encoder loads on the warm-up). Modes:

- `mmap`: the index as it opens: token vectors, token ids, offsets and FAISS codes memory-mapped;
- `in-memory`: after opening, every memory-mapped array of the token store and the FAISS codes are
  read into memory (how an index is served when nothing is mapped).

Reported per mode, from `/proc/self/status` (Linux): resident memory (VmRSS) after opening and after
searching, the parts of it that are anonymous memory (RssAnon) and pages of the index's memory-mapped
files (from `/proc/self/smaps`; file pages the kernel can drop and read again, like those of shared
libraries, which make up most of the rest), peak resident memory (VmHWM), the index's `memory_bytes`,
nDCG@10, the median latency of a request (query encoding included, `--k` hits), the median time to
encode a query alone with the index's token encoder and the ratio of the two, the median and 95th
percentile time to search with a query already encoded (token-level kinds: `search_encoded`), the
throughput of one batch of every query, and the 1-minute load average at the end. Writes
`<dataset>-<split>-serving-memory.md` and `.json` under `--results-dir`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evals import report
from evals.beir import SEARCH_K, config_label, quality, search_judged
from evals.datasets import DatasetError, load_beir
from indexers.base import Index
from indexers.cli_args import parse_args
from indexers.errors import IndexNotFound
from indexers.kinds.late_interaction import TokenIndex
from indexers.models.encoders import TokenEmbeddings, TokenEncoder
from indexers.registry import open_index
from indexers.storage.token_ann import TokenANN

__all__ = [
    "MODES",
    "encode_ms",
    "main",
    "mapped_mb",
    "read_into_memory",
    "search_ms",
    "serve_once",
    "status_mb",
]

MODES = ("mmap", "in-memory")
_FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def status_mb() -> dict[str, float]:
    """This process's VmRSS, RssAnon, RssFile and VmHWM in MiB, from `/proc/self/status`."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in _FIELDS:
            values[name] = int(rest.split()[0]) / 1024  # kB
    return values


def mapped_mb(folder: Path) -> float:
    """Resident MiB of this process's memory maps of files under `folder`, from `/proc/self/smaps`."""
    prefix, total_kb, inside = str(folder.resolve()) + "/", 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header: range perms offset dev inode [path]
            inside = len(fields) > 5 and fields[5].startswith(prefix)
        elif inside and fields[0] == "Rss:":
            total_kb += int(fields[1])
    return total_kb / 1024


def read_into_memory(index: Index) -> None:
    """Replace the memory-mapped arrays of the index's token store by in-memory copies and read its
    FAISS codes into memory (the `in-memory` mode)."""
    store = getattr(index, "store", None)
    for segment in getattr(store, "segments", ()):
        for name, value in list(vars(segment).items()):
            if isinstance(value, np.memmap):
                setattr(segment, name, np.array(value))
    ann = getattr(index, "ann", None)
    if isinstance(ann, TokenANN):
        ann.own()


def encode_ms(index: Index, queries: list[str]) -> tuple[np.ndarray, list[TokenEmbeddings]] | None:
    """Milliseconds to encode each query alone with the index's token encoder, and the encodings
    (None: the kind has none), after one untimed warm-up."""
    encoder = getattr(index, "encoder", None)
    if not isinstance(encoder, TokenEncoder) or not queries:
        return None
    encoder.encode(queries[:1], is_query=True)
    times = np.empty(len(queries))
    encoded = []
    for i, query in enumerate(queries):
        started = time.perf_counter()
        encoded += encoder.encode([query], is_query=True)
        times[i] = (time.perf_counter() - started) * 1000
    return times, encoded


def search_ms(index: Index, encoded: list[TokenEmbeddings], k: int) -> np.ndarray | None:
    """Milliseconds to search each already encoded query alone (None: the kind cannot take encodings)."""
    if not isinstance(index, TokenIndex):
        return None
    times = np.empty(len(encoded))
    for i, query in enumerate(encoded):
        started = time.perf_counter()
        index.search_encoded([query], k)
        times[i] = (time.perf_counter() - started) * 1000
    return times


def serve_once(data: Path, split: str, index_dir: Path, mode: str, k: int = SEARCH_K) -> dict[str, Any]:
    """Open the index in this process, search the split's queries, and measure (one mode)."""
    dataset = load_beir(data, split)
    start = status_mb()
    index = open_index(index_dir)
    if mode == "in-memory":
        read_into_memory(index)
    opened = status_mb()
    ranked, latencies_ms = search_judged(index, dataset, k=k)
    queries = list(dataset.queries.values())
    encoding = encode_ms(index, queries)
    encoding_ms = None if encoding is None else encoding[0]
    searching_ms = None if encoding is None else search_ms(index, encoding[1], k)
    started = time.perf_counter()
    index.search(queries, k=k)
    batch_seconds = time.perf_counter() - started
    searched = status_mb() | {"index_pages": mapped_mb(index_dir)}
    return {
        "mode": mode,
        "kind": index.kind,
        "config": config_label(index.config),
        "dataset": dataset.name,
        "split": split,
        "num_docs": index.num_docs,
        "num_queries": len(ranked),
        "memory_bytes": index.memory_bytes(),
        "start_mb": start,
        "opened_mb": opened,
        "searched_mb": searched,
        "ndcg_at_10": quality(ranked, dataset)["ndcg_at_10"],
        "k": k,
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)),
        "encode_ms_p50": None if encoding_ms is None else float(np.percentile(encoding_ms, 50)),
        "search_ms_p50": None if searching_ms is None else float(np.percentile(searching_ms, 50)),
        "search_ms_p95": None if searching_ms is None else float(np.percentile(searching_ms, 95)),
        "batch_queries_per_s": len(queries) / batch_seconds,
        "load_1min": os.getloadavg()[0],
    }


def _run_mode(args: argparse.Namespace, index_dir: Path, mode: str) -> dict[str, Any] | None:
    """One index and mode in a fresh process; its result, or None if it failed."""
    with tempfile.TemporaryDirectory(prefix="tessera-serving-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable, "-m", "benchmarks.serving_memory",
            "--data", str(args.data), "--split", args.split, "--index-dir", str(index_dir),
            "--mode", mode, "--k", str(args.k), "--json", str(out),
        ]  # fmt: skip
        print(f"== {mode}: {' '.join(command)}", file=sys.stderr, flush=True)
        code = subprocess.run(command, check=False).returncode
        if code != 0 or not out.is_file():
            print(f"== {mode}: failed with exit code {code}", file=sys.stderr)
            return None
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result


def _markdown(results: list[dict[str, Any]], command: str) -> str:
    first = results[0]
    header = [
        "config",
        "mode",
        "RSS opened MB",
        "RSS searched MB",
        "of it anonymous MB",
        "of it index pages MB",
        "peak RSS MB",
        "memory_bytes MB",
        "nDCG@10",
        "k",
        "p50 ms",
        "encode p50 ms",
        "p50 / encode",
        "search p50 ms",
        "search p95 ms",
        "batch q/s",
        "load (1 min)",
    ]
    rows = [
        [
            r["config"],
            r["mode"],
            report.cell(r["opened_mb"]["VmRSS"], ",.0f"),
            report.cell(r["searched_mb"]["VmRSS"], ",.0f"),
            report.cell(r["searched_mb"]["RssAnon"], ",.0f"),
            report.cell(r["searched_mb"]["index_pages"], ",.0f"),
            report.cell(r["searched_mb"]["VmHWM"], ",.0f"),
            report.cell(r["memory_bytes"] / 2**20, ",.1f"),
            report.cell(r["ndcg_at_10"], ".3f"),
            str(r["k"]),
            report.cell(r["latency_ms_p50"], ".1f"),
            report.cell(r["encode_ms_p50"], ".1f"),
            report.cell(
                None if r["encode_ms_p50"] is None else r["latency_ms_p50"] / r["encode_ms_p50"], ".2f"
            ),
            report.cell(r.get("search_ms_p50"), ".1f"),
            report.cell(r.get("search_ms_p95"), ".1f"),
            report.cell(r["batch_queries_per_s"], ",.0f"),
            report.cell(r["load_1min"], ".1f"),
        ]
        for r in results
    ]
    return "\n".join(
        [
            f"# Serving memory on {first['dataset']} {first['split']}",
            "",
            f"{first['num_docs']:,} documents, {first['num_queries']} queries, each index and mode in a "
            "fresh process. Generated by:",
            "",
            f"    {command}",
            "",
            report.markdown_table(header, rows, text_columns=2),
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving_memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder of the queries and judgments")
    parser.add_argument("--split", required=True, help="qrels split, e.g. dev")
    parser.add_argument(
        "--index-dir", type=Path, action="append", required=True, help="a saved index folder (repeatable)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--results-dir", type=Path, default=Path("docs/results"), help="table and JSON")
    parser.add_argument("--k", type=int, default=SEARCH_K, help=f"hits per query (default {SEARCH_K})")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in this process
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # where that mode writes its result
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure each mode in a fresh process and write the table; 1 if a mode failed, 2 for bad arguments."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    if args.mode is not None:
        try:
            result = serve_once(args.data, args.split, args.index_dir[0], args.mode, args.k)
        except (DatasetError, IndexNotFound) as exc:
            print(f"benchmarks.serving_memory: error: {exc}", file=sys.stderr)
            return 2
        if args.json is not None:
            report.write_json(args.json, result)
        else:
            print(json.dumps(result, indent=2))
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        print(f"benchmarks.serving_memory: error: --modes takes {', '.join(MODES)}", file=sys.stderr)
        return 2
    runs = [(index_dir, mode) for index_dir in args.index_dir for mode in modes]
    results = [r for r in (_run_mode(args, *run) for run in runs) if r is not None]
    if results:
        command = "python -m benchmarks.serving_memory " + " ".join(sys.argv[1:] if argv is None else argv)
        markdown = _markdown(results, command)
        stem = args.results_dir / f"{results[0]['dataset']}-{args.split}-serving-memory"
        report.write_report(stem, markdown, results)
        print(markdown)
    return 0 if len(results) == len(runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
