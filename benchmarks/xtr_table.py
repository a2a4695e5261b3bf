"""XTR against exact MaxSim, pooled ColBERT and BM25 on one BEIR split, with a k' sweep.

    python -m benchmarks.xtr_table --data ../shared/data/scifact --split dev \
        --trained runs/xtr-a [--sweep 32,128,256,1024] [--sample-docs N] \
        [--only LABEL,...] [--reuse]

Each row runs in its own process (`--row NAME`, peak RSS per row) through `evals.beir.run`: build,
save, reopen, one warm-up query, then every judged query one at a time (k=100). Document token
vectors are encoded once per model and kept under `runs/xtr-cache/` (float16), so every kind over
the same model indexes the same encodings; build docs/s then covers indexing only (marked in the
table). Queries are always encoded by the model itself, inside the timed search.

Scoring cost, "similarities per query": exact MaxSim computes one per (query token, stored document
token); XTR with IVF computes n_query_tokens x nlist centroid similarities plus one per vector in
the probed lists (counted by FAISS, `indexIVF_stats`), flat n_query_tokens x n_vectors.

Writes `docs/results/<dataset>-<split>-xtr.md` and `.json`, and the k' sweep plot
`docs/<dataset>-xtr-kprime.png`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.beir import EvalResult, build_config, quality, run, search_judged
from evals.datasets import BeirDataset, load_beir, sample_docs
from evals.metrics import ndcg_at_k, per_query
from evals.paired import paired_comparison
from evals.report import cell, markdown_table, paired_table, write_json, write_report
from indexers.base import Index
from indexers.cli_args import parse_args
from indexers.models.encoders import Progress, TokenEmbeddings, TokenEncoder, load_token_encoder
from indexers.registry import open_index
from indexers.storage.token_store import SEGMENTS_FILE, TokenStore

__all__ = ["CachedDocuments", "Row", "cached", "main"]

CACHE_CHUNK = 512
ZERO_SHOT = "xtr minilm zero-shot"


def cached(folder: Path) -> bool:
    """Whether `folder` holds a saved token store (segmented, or a folder from before segments)."""
    return (folder / SEGMENTS_FILE).is_file() or (folder / "token_offsets.npy").is_file()


class CachedDocuments(TokenEncoder):
    """A token encoder whose document encodings come from a cache built once per model and corpus;
    queries go to the model."""

    def __init__(self, model: TokenEncoder, store: TokenStore, texts: Sequence[str]) -> None:
        super().__init__(model.config)
        self.model, self.store = model, store
        self.dim, self.window = model.dim, model.window
        self.position: dict[str, int] = {}
        for i, text in enumerate(texts):
            self.position.setdefault(text, i)

    @classmethod
    def open(cls, model: TokenEncoder, texts: Sequence[str], folder: Path) -> CachedDocuments:
        """The cache in `folder`, encoding `texts` into it first if it is not there."""
        if not cached(folder):
            store = TokenStore(model.dim)
            for start in range(0, len(texts), CACHE_CHUNK):
                encoded = model.encode(texts[start : start + CACHE_CHUNK], is_query=False)
                store.append([e.vectors for e in encoded], [e.token_ids for e in encoded])
                print(f"encoded {min(start + CACHE_CHUNK, len(texts))}/{len(texts)}", file=sys.stderr)
            folder.mkdir(parents=True, exist_ok=True)
            store.save(folder)
        store = TokenStore.load(folder, model.dim, "float16", 48)
        if store.num_slots != len(texts):
            raise ValueError(f"{folder} holds {store.num_slots} documents, the corpus {len(texts)}")
        return cls(model, store, texts)

    def encode(
        self, texts: Sequence[str], *, is_query: bool, progress: Progress | None = None
    ) -> list[TokenEmbeddings]:
        if is_query:
            return self.model.encode(texts, is_query=True, progress=progress)
        out = []
        for text in texts:
            internal = self.position[text]
            rows = self.store.doc_rows(internal)
            out.append(TokenEmbeddings(self.store.doc_vectors(internal), self.store.token_ids[rows]))
        if progress is not None:
            progress(len(texts), len(texts))
        return out

    def _token_ids(self, texts: Sequence[str], *, is_query: bool) -> list[list[int]]:
        return self.model._token_ids(texts, is_query=is_query)

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.model._forward(batch)

    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        return self.model.decode_tokens(token_ids)

    def _document_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        return self.model._document_spans(text)


@dataclass(frozen=True, slots=True)
class Row:
    """One configuration: a label, the kind's config overrides, and whether to sweep k' on it."""

    label: str
    kind: str
    overrides: tuple[str, ...] = ()
    sweep: bool = False


def _lineup(trained: Sequence[Path]) -> list[Row]:
    rows = [
        Row("exact", "exact"),
        Row("colbert_pooled pool_factor=2", "colbert_pooled", ("pool_factor=2",)),
        Row(ZERO_SHOT, "xtr", (), sweep=True),
    ]
    rows += [
        Row(f"xtr trained {path.name}", "xtr", (f"encoder.model={path}",), sweep=True) for path in trained
    ]
    rows.append(Row("bm25", "bm25"))
    return rows


def _query_tokens(index: Index, dataset: BeirDataset) -> np.ndarray:
    encoder: TokenEncoder = index.encoder  # type: ignore[attr-defined]
    return np.array([len(e.vectors) for e in encoder.encode(list(dataset.queries.values()), is_query=True)])


def _similarities(index: Index, dataset: BeirDataset) -> dict[str, float] | None:
    """Mean and median similarities computed per query by the scoring stage (exact and xtr)."""
    import faiss

    if index.kind == "exact":
        per_query = _query_tokens(index, dataset) * index.num_vectors  # type: ignore[attr-defined]
    elif index.kind == "xtr":
        ivf = faiss.try_extract_index_ivf(index.ann.index)  # type: ignore[attr-defined]
        if ivf is None:
            return None  # counted for IVF token indexes only
        stats = faiss.cvar.indexIVF_stats  # type: ignore[attr-defined]
        counts = []
        for query in dataset.queries.values():
            stats.reset()
            index.search([query], k=100)
            counts.append(stats.nq * ivf.nlist + stats.ndis)
        per_query = np.array(counts)
    else:
        return None
    return {"similarities_mean": float(per_query.mean()), "similarities_p50": float(np.median(per_query))}


def _sweep(index: Index, dataset: BeirDataset, values: list[int]) -> list[dict[str, Any]]:
    """nDCG@10, Recall@100, latency and similarities for each k' on the same built index."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index.ann.index)  # type: ignore[attr-defined]
    stats = faiss.cvar.indexIVF_stats  # type: ignore[attr-defined]
    points = []
    base = index.config
    for k_prime in values:
        index.config = base.model_copy(update={"candidate_tokens": k_prime})  # k' is read at search time
        counts: list[int] = []

        def count(done: int, _total: int, counts: list[int] = counts) -> None:
            """After each timed query (outside its timing): FAISS's similarity count for it."""
            counts.append(stats.nq * ivf.nlist + stats.ndis if ivf is not None else 0)
            if done == 1:  # the first count also holds the warm-up, the same query searched once more
                counts[0] //= 2
            stats.reset()

        stats.reset()
        ranked, latencies = search_judged(index, dataset, count)
        points.append(
            {
                "candidate_tokens": k_prime,
                **quality(ranked, dataset),
                "ndcg_at_10_per_query": per_query(ndcg_at_k, ranked, dataset.qrels, 10),
                "latency_ms_p50": float(np.percentile(latencies, 50)),
                "latency_ms_p95": float(np.percentile(latencies, 95)),
            }
        )
        if ivf is not None:
            points[-1].update(
                similarities_mean=float(np.mean(counts)), similarities_p50=float(np.median(counts))
            )
        shown = {k: v for k, v in points[-1].items() if k != "ndcg_at_10_per_query"}
        print(f"k'={k_prime}: {shown}", file=sys.stderr)
    index.config = base
    return points


def _dataset(args: argparse.Namespace) -> BeirDataset:
    dataset = load_beir(args.data, args.split)
    return dataset if args.sample_docs is None else sample_docs(dataset, args.sample_docs)


def _run_row(row: Row, args: argparse.Namespace) -> dict[str, Any]:
    dataset = _dataset(args)
    config = build_config(row.kind, None, row.overrides)
    doc_encoder = None
    if "encoder" in type(config).model_fields:
        model = config.encoder.model  # type: ignore[union-attr]
        slug = "".join(c if c.isalnum() else "_" for c in model).strip("_")
        texts = [d.full_text for d in dataset.docs]
        corpus = hashlib.sha1("\n".join(d.id for d in dataset.docs).encode()).hexdigest()[:12]
        cache = args.runs_dir / "xtr-cache" / f"{dataset.name}-{corpus}-{slug}"  # one per corpus and model
        doc_encoder = CachedDocuments.open(load_token_encoder(config.encoder), texts, cache)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="xtr-table-") as tmp:
        folder = Path(tmp) / "index"
        result = run(config, dataset, index_dir=folder, label=row.label, doc_encoder=doc_encoder)
        index = open_index(folder)
        record: dict[str, Any] = {
            "result": result.model_dump(mode="json"),
            "cached_docs": doc_encoder is not None,
            "threads": args.threads,
            "load_1min": os.getloadavg()[0],  # the machine's load right after the timed queries
        }
        if row.sweep:
            record["sweep"] = _sweep(index, dataset, args.sweep)
        default = [p for p in record.get("sweep", []) if p["candidate_tokens"] == config.candidate_tokens]  # type: ignore[union-attr]
        if default and "similarities_mean" in default[0]:
            record.update({key: default[0][key] for key in ("similarities_mean", "similarities_p50")})
        else:
            record.update(_similarities(index, dataset) or {})
    return record


def _paired_rows(
    records: dict[str, dict[str, Any]], baseline: str
) -> list[tuple[str, str, dict[str, float]]]:
    """Per-query nDCG@10 of each other row against `baseline` at every k' both swept
    (`paired_comparison`), as `paired_table` rows."""
    base = {p["candidate_tokens"]: p for p in records[baseline].get("sweep", [])}
    rows = []
    for label, record in records.items():
        if label == baseline:
            continue
        for point in record.get("sweep", []):
            k = point["candidate_tokens"]
            other = base.get(k)
            if other is None or "ndcg_at_10_per_query" not in point or "ndcg_at_10_per_query" not in other:
                continue
            c = paired_comparison(point["ndcg_at_10_per_query"], other["ndcg_at_10_per_query"])
            rows.append((f"{label} at k'={k}", f"{baseline} at k'={k}", c))
    return rows


def _report(args: argparse.Namespace, records: dict[str, dict[str, Any]], failed: list[str]) -> str:
    results = {label: EvalResult.model_validate(r["result"]) for label, r in records.items()}
    first = next(iter(results.values()))
    exact = records.get("exact", {})
    scope = (
        f" Subsample: the corpus was cut to {first.num_docs} documents, every document judged for a "
        f"{first.split} query, then the others in file order (`--sample-docs {args.sample_docs}`), "
        "so scores are higher than on the full corpus and only comparable within this table."
        if args.sample_docs
        else ""
    )
    lines = [
        f"# XTR on BEIR {first.dataset} / {first.split}",
        "",
        f"{first.num_docs} documents, {first.num_queries} judged queries.{scope} Generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.xtr_table` on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs (1-minute load average when the table was written: "
        f"{os.getloadavg()[0]:.1f}; latencies taken under load are only comparable within one table), "
        f"Python {platform.python_version()}.",
        "",
        f"One process per row, {next(iter(records.values())).get('threads', 1)} thread(s) each (torch, BLAS, "
        "FAISS); latency: one query at a time (query encoding included) against the index "
        "reopened from disk, k=100, after one warm-up query. Rows marked * indexed cached document "
        "encodings (encoded once per model), so their build docs/s counts indexing only. Similarities "
        "per query: the scoring stage's similarity computations (exact: query tokens x stored tokens; "
        "xtr IVF: query tokens x (lists + vectors in the probed lists), counted by FAISS). Load: the "
        "machine's 1-minute load average right after the row's timed queries (2 CPUs; above 2, other "
        "work was competing).",
        "",
    ]
    rows = []
    for label, result in results.items():
        sims = records[label].get("similarities_mean")
        ratio = (
            exact["similarities_mean"] / sims if sims and label != "exact" and "exact" in records else None
        )
        rows.append(
            [
                label,
                cell(result.ndcg_at_10, ".3f"),
                cell(result.recall_at_100, ".3f"),
                cell(result.latency_ms_p50, ".1f"),
                cell(result.latency_ms_p95, ".1f"),
                cell(sims, ",.0f"),
                None if ratio is None else f"{ratio:.0f}x fewer",
                cell(result.build_docs_per_s, ".1f") + ("*" if records[label]["cached_docs"] else ""),
                cell(result.index_bytes / 2**20, ".1f"),
                cell(result.bytes_per_doc, ".0f"),
                cell(result.peak_rss_mb, ".0f"),
                cell(records[label].get("load_1min"), ".1f"),
            ]
        )
    lines.append(
        markdown_table(
            [
                "kind/config",
                "nDCG@10",
                "Recall@100",
                "p50 ms",
                "p95 ms",
                "similarities/query",
                "vs exact",
                "build docs/s",
                "index MB",
                "bytes/doc",
                "peak RSS MB",
                "load",
            ],  # fmt: skip
            rows,
        )
    )
    if "exact" in results:
        for label, result in results.items():
            if result.kind == "xtr":
                exact_p50 = results["exact"].latency_ms_p50
                lines += [
                    "",
                    f"{label}: p50 {exact_p50 / result.latency_ms_p50:.1f}x faster than exact MaxSim "
                    f"({result.latency_ms_p50:.1f} vs {exact_p50:.1f} ms).",
                ]
    for label, record in records.items():
        if "sweep" not in record:
            continue
        sweep = [
            [
                point["candidate_tokens"],
                cell(point["ndcg_at_10"], ".3f"),
                cell(point["recall_at_100"], ".3f"),
                cell(point["latency_ms_p50"], ".1f"),
                cell(point["latency_ms_p95"], ".1f"),
                cell(point.get("similarities_mean"), ",.0f"),
            ]
            for point in record["sweep"]
        ]
        lines += [
            "",
            f"## k' sweep: {label}",
            "",
            markdown_table(
                ["k'", "nDCG@10", "Recall@100", "p50 ms", "p95 ms", "similarities/query"],
                sweep,
                text_columns=0,
            ),
        ]
    paired = paired_table(_paired_rows(records, ZERO_SHOT)) if ZERO_SHOT in records else []
    if paired:
        lines += ["", f"## Per query against {ZERO_SHOT}", "", *paired]
    if failed:
        lines += ["", f"Failed (see the run's log): {', '.join(failed)}."]
    return "\n".join(lines) + "\n"


def _plot(records: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (quality_axis, latency_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for label, record in records.items():
        if "sweep" not in record:
            continue
        k = [p["candidate_tokens"] for p in record["sweep"]]
        quality_axis.plot(k, [p["ndcg_at_10"] for p in record["sweep"]], marker="o", label=label)
        latency_axis.plot(k, [p["latency_ms_p50"] for p in record["sweep"]], marker="o", label=label)
    for axis, name in ((quality_axis, "nDCG@10"), (latency_axis, "p50 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("k' (document tokens retrieved per query token)")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.xtr_table", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout dataset folder")
    parser.add_argument("--split", required=True, help="qrels split, e.g. dev")
    parser.add_argument(
        "--trained",
        type=Path,
        action="append",
        default=[],
        help="XTR-trained model folder (python -m indexers.train.xtr); repeat to compare several",
    )
    parser.add_argument(
        "--sweep", type=lambda s: [int(v) for v in s.split(",")], default=[32, 128, 256, 1024]
    )
    parser.add_argument("--only", help="comma-separated row labels to run (default: all)")
    parser.add_argument(
        "--sample-docs",
        type=int,
        help="subsample: the judged documents, then the others in file order, N in all",
    )
    parser.add_argument("--results-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--plot-dir", type=Path, default=Path("docs"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per row process (torch, BLAS, FAISS); 1 keeps latencies stable on a shared machine",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="take rows already measured (runs/xtr-table/*.json) as they are"
    )
    parser.add_argument("--row", help=argparse.SUPPRESS)  # child process: run one row
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the lineup, one child process per row; 0 if every row succeeded, 1 if one failed."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    rows = {row.label: row for row in _lineup(args.trained)}
    out_dir = args.runs_dir / "xtr-table"
    if args.row is not None:
        import torch

        torch.set_num_threads(args.threads)
        record = _run_row(rows[args.row], args)
        write_json(out_dir / f"{_slug(args.row)}.json", record)
        return 0
    wanted = [label.strip() for label in args.only.split(",")] if args.only else list(rows)
    records: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    child = _strip_only(list(argv if argv is not None else sys.argv[1:]))
    for label in wanted:
        path = out_dir / f"{_slug(label)}.json"
        if args.reuse and path.is_file():
            records[label] = json.loads(path.read_text())
            print(f"== {label}: reusing {path}", file=sys.stderr, flush=True)
            continue
        print(f"== {label}", file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)
        threads = str(args.threads)  # OpenMP (FAISS), BLAS (numpy) and torch: as many threads as asked
        env = {
            **os.environ,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }
        code = subprocess.run(
            [sys.executable, "-m", "benchmarks.xtr_table", *child, "--row", label],
            check=False,
            stdout=sys.stderr,
            env=env,
        ).returncode
        if code != 0 or not path.is_file():
            failed.append(label)
            continue
        records[label] = json.loads(path.read_text())
    if not records:
        return 1
    stem = f"{args.data.resolve().name}-{args.split}" + (
        f"-sample{args.sample_docs}" if args.sample_docs else ""
    )
    report = _report(args, records, failed)
    write_report(args.results_dir / f"{stem}-xtr", report, {"rows": records, "failed": failed})
    if any("sweep" in r for r in records.values()):
        first = EvalResult.model_validate(next(iter(records.values()))["result"])
        scope = f", {first.num_docs}-document subsample" if args.sample_docs else ""
        title = f"XTR on {first.dataset} {first.split}{scope}: quality and latency against k'"
        _plot(records, args.plot_dir / f"{stem}-xtr-kprime.png", title)
    print(report)
    return 1 if failed else 0


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "=-" else "_" for c in label)


def _strip_only(argv: list[str]) -> list[str]:
    """The parent's arguments without `--only VALUE` and `--reuse` (children get `--row` instead)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--only":
            skip = True
        elif arg != "--reuse":
            out.append(arg)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
