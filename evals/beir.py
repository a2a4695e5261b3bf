"""BEIR evaluation of one index configuration: build, save, reopen, search query by query, score.

Library use: `run(config, load_beir(folder, split)) -> EvalResult`. Command line:

    python -m evals.beir --data ../shared/data/scifact --split dev --kind colbert_pooled \
        --set pool_factor=3 --set encoder.quantize=int8 [--config base.json] [--out runs/] \
        [--limit-docs N | --sample-docs N] [--sample-queries N | --title-queries N] [--seed 0]

writes the result as JSON and prints it as a one-row Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import re
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from evals import report
from evals.datasets import BeirDataset, load_beir, sample_docs, sample_queries, title_queries
from evals.metrics import mean_metric, mrr_at_k, ndcg_at_k, per_query, recall_at_k
from evals.report import cell
from indexers.base import Index, Progress
from indexers.cli_args import log_progress, parse_args
from indexers.configs import IndexConfig, parse_config
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.models.encoders import TokenEncoder, UsesTokenEncoder
from indexers.registry import KINDS, create_index, open_index

__all__ = [
    "SEARCH_K",
    "EvalResult",
    "apply_override",
    "build_config",
    "config_label",
    "main",
    "markdown_table",
    "quality",
    "result_filename",
    "run",
    "search_judged",
]

logger = logging.getLogger(__name__)

SEARCH_K = 100
"""Hits retrieved per query (enough for Recall@100)."""

_COLUMNS = (
    "kind/config",
    "nDCG@10",
    "Recall@100",
    "MRR@10",
    "build docs/s",
    "index MB",
    "bytes/doc",
    "vectors",
    "p50 ms",
    "p95 ms",
    "peak RSS MB",
)


class EvalResult(BaseModel):
    """Quality and cost of one index configuration on one dataset split."""

    model_config = ConfigDict(frozen=True)

    label: str
    kind: str
    config: dict[str, Any]
    dataset: str
    split: str
    limit_docs: int | None
    num_docs: int
    num_queries: int
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    build_s: float
    build_docs_per_s: float
    index_bytes: int
    bytes_per_doc: float
    num_vectors: int | None
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_mean: float
    peak_rss_mb: float
    created_at: datetime
    ndcg_at_10_per_query: dict[str, float] = Field(
        default_factory=dict, description="query id -> nDCG@10 (empty in results written before it existed)"
    )
    ranked: dict[str, list[str]] = Field(
        default_factory=dict,
        exclude=True,
        description="query id -> retrieved document ids, best first (top SEARCH_K); only in this "
        "module's own JSON output, not in `model_dump`",
    )


def _cells(result: EvalResult) -> list[str]:
    return [
        result.label,
        cell(result.ndcg_at_10, ".3f"),
        cell(result.recall_at_100, ".3f"),
        cell(result.mrr_at_10, ".3f"),
        cell(result.build_docs_per_s, ".1f"),
        cell(result.index_bytes / 2**20, ".1f"),
        cell(result.bytes_per_doc, ".0f"),
        cell(result.num_vectors),
        cell(result.latency_ms_p50, ".1f"),
        cell(result.latency_ms_p95, ".1f"),
        cell(result.peak_rss_mb, ".0f"),
    ]


def markdown_table(results: Sequence[EvalResult]) -> str:
    """A Markdown table with a header and one row per result."""
    return report.markdown_table(_COLUMNS, [_cells(r) for r in results])


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_label(config: IndexConfig) -> str:
    """The kind followed by every setting that differs from the kind's defaults.

    >>> from indexers.configs import PooledColBERTConfig
    >>> config_label(PooledColBERTConfig(pool_factor=3))
    'colbert_pooled pool_factor=3'
    """
    defaults = _flatten(type(config)().model_dump(mode="json"))
    changed = [
        f"{key}={value}"
        for key, value in _flatten(config.model_dump(mode="json")).items()
        if defaults.get(key) != value
    ]
    return " ".join([config.kind, *changed])


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


@contextmanager
def _index_folder(index_dir: Path | None) -> Iterator[Path]:
    if index_dir is None:
        with tempfile.TemporaryDirectory(prefix="tessera-eval-") as tmp:
            yield Path(tmp) / "index"
        return
    if index_dir.exists() and (not index_dir.is_dir() or any(index_dir.iterdir())):
        raise InvalidInput(f"index folder {index_dir} already exists and is not empty")
    yield index_dir


def search_judged(
    index: Index, dataset: BeirDataset, progress: Progress | None = None, k: int = SEARCH_K
) -> tuple[dict[str, list[str]], np.ndarray]:
    """Search every judged query one at a time for `k` hits, after one untimed warm-up query.

    Returns:
        The ranked document ids per query id, and each query's latency in milliseconds.
    """
    query_ids = list(dataset.queries)
    index.search([dataset.queries[query_ids[0]]], k=k)  # warm-up: lazy model loads, caches
    ranked: dict[str, list[str]] = {}
    latencies_ms = np.empty(len(query_ids))
    for position, query_id in enumerate(query_ids):
        started = time.perf_counter()
        hits = index.search([dataset.queries[query_id]], k=k)[0]
        latencies_ms[position] = (time.perf_counter() - started) * 1000
        ranked[query_id] = [hit.doc_id for hit in hits]
        if progress is not None:
            progress(position + 1, len(query_ids))
    return ranked, latencies_ms


def quality(ranked: dict[str, list[str]], dataset: BeirDataset) -> dict[str, float]:
    """nDCG@10, Recall@100 and MRR@10 of a run, keyed as in EvalResult."""
    return {
        "ndcg_at_10": mean_metric(ndcg_at_k, ranked, dataset.qrels, 10),
        "recall_at_100": mean_metric(recall_at_k, ranked, dataset.qrels, 100),
        "mrr_at_10": mean_metric(mrr_at_k, ranked, dataset.qrels, 10),
    }


def run(
    config: IndexConfig,
    dataset: BeirDataset,
    *,
    index_dir: Path | None = None,
    label: str | None = None,
    build_progress: Progress | None = None,
    search_progress: Progress | None = None,
    doc_encoder: TokenEncoder | None = None,
) -> EvalResult:
    """Evaluate one configuration on one dataset split, the way a deployment would use it.

    Builds the index (timed: build docs/s; model loading at construction is not counted), saves it
    (size on disk, bytes per document), reopens it from disk with `open_index`, runs one untimed
    warm-up query, then searches every judged query one at a time for `SEARCH_K` hits (online
    latency) and scores the run with nDCG@10, Recall@100 and MRR@10. Peak RSS is that of the whole
    process so far: run one configuration per process to compare memory.

    Args:
        config: the index configuration.
        dataset: the documents, queries and judgments.
        index_dir: where to save the index (must be absent or empty); a temporary folder,
            removed afterwards, when None.
        label: the name of this configuration in tables; `config_label(config)` when None.
        build_progress: called with (documents done, total) while building.
        search_progress: called with (queries done, total) while searching.
        doc_encoder: encodes the documents instead of the config's encoder (token kinds only; a
            benchmark reusing one corpus encoding); queries use the config's encoder.

    Raises:
        InvalidConfig: the kind is not registered or the config does not fit.
        InvalidInput: `index_dir` is not empty, or the data is rejected by the index.
    """
    with _index_folder(index_dir) as folder:  # checked before the (long) build
        index = create_index(config)
        if doc_encoder is not None:
            if not isinstance(index, UsesTokenEncoder):
                raise InvalidConfig(f"kind {config.kind!r} does not encode with a token encoder")
            index.use_encoder(doc_encoder)
        started = time.perf_counter()
        index.build(dataset.docs, progress=build_progress)
        build_s = time.perf_counter() - started
        num_docs = index.num_docs
        logger.info("built %s over %d documents in %.1f s", config.kind, num_docs, build_s)

        index.save(folder)
        index_bytes = _folder_bytes(folder)
        del index
        gc.collect()
        index = open_index(folder)
        num_vectors = getattr(index, "num_vectors", None)

        ranked, latencies_ms = search_judged(index, dataset, search_progress)
        del index

    return EvalResult(
        label=label or config_label(config),
        kind=config.kind,
        config=config.model_dump(mode="json"),
        dataset=dataset.name,
        split=dataset.split,
        limit_docs=dataset.limit_docs,
        num_docs=num_docs,
        num_queries=len(ranked),
        **quality(ranked, dataset),
        build_s=build_s,
        build_docs_per_s=num_docs / max(build_s, 1e-9),
        index_bytes=index_bytes,
        bytes_per_doc=index_bytes / num_docs if num_docs else 0.0,
        num_vectors=None if num_vectors is None else int(num_vectors),
        latency_ms_p50=float(np.percentile(latencies_ms, 50)),
        latency_ms_p95=float(np.percentile(latencies_ms, 95)),
        latency_ms_mean=float(latencies_ms.mean()),
        peak_rss_mb=_peak_rss_mb(),
        created_at=datetime.now(UTC),
        ndcg_at_10_per_query=per_query(ndcg_at_k, ranked, dataset.qrels, 10),
        ranked=ranked,
    )


# --- command line -------------------------------------------------------------------------------


def apply_override(config: dict[str, Any], item: str) -> None:
    """Set `config[key][sub]... = value` from `key.sub=value` (the value parsed as JSON when it parses).

    Raises:
        InvalidConfig: not `key=value`, or a dotted key that runs through a plain value.
    """
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise InvalidConfig(
            f"bad override {item!r}: expected key=value, e.g. pool_factor=3 or encoder.quantize=int8"
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InvalidConfig(f"bad override {item!r}: {part!r} is a value, not a section")
    node[parts[-1]] = value


def build_config(
    kind: str | None, config_file: Path | None = None, overrides: Sequence[str] = ()
) -> IndexConfig:
    """An index config from a kind, an optional JSON file, and `key.sub=value` overrides.

    Override values are parsed as JSON when they parse (`2`, `true`, `null`, `[1, 2]`), else kept
    as strings (`fake:hash`).

    Raises:
        InvalidConfig: the file is unreadable, the kind is missing, unknown or contradicts the
            file, an override is malformed, or the result does not validate.
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidConfig(f"cannot read config file {config_file}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidConfig(f"config file {config_file} must hold a JSON object")
    if kind is not None:
        if data.get("kind", kind) != kind:
            raise InvalidConfig(f"--kind {kind} contradicts kind {data['kind']!r} in {config_file}")
        data["kind"] = kind
    if "kind" not in data:
        raise InvalidConfig("no index kind: give --kind or a config file with a 'kind' field")
    if data["kind"] not in KINDS:
        raise InvalidConfig(f"unknown index kind {data['kind']!r}; known kinds: {', '.join(sorted(KINDS))}")
    for item in overrides:
        apply_override(data, item)
    return parse_config(data)


class _Bar:
    """A Progress callback drawing a tqdm bar on stderr, created on the first call."""

    def __init__(self, desc: str, unit: str) -> None:
        self.desc, self.unit = desc, unit
        self.bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total or None, desc=self.desc, unit=self.unit, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        if 0 < total <= done:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def result_filename(dataset: str, split: str, label: str, limit_docs: int | None = None) -> str:
    """The JSON file name of one result, e.g. `scifact-dev-colbert_pooled_pool_factor=3.json`."""
    limit = f"-limit{limit_docs}" if limit_docs else ""
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label)
    return f"{dataset}-{split}{limit}-{slug}.json"


def _output_path(out: Path, result: EvalResult) -> Path:
    if out.suffix == ".json":
        return out
    return out / result_filename(result.dataset, result.split, result.label, result.limit_docs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.beir", description="Evaluate one index configuration on a BEIR-layout dataset."
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/"
    )
    parser.add_argument("--split", required=True, help="qrels split, e.g. dev or test")
    parser.add_argument("--kind", help=f"index kind: {', '.join(sorted(KINDS))}")
    parser.add_argument("--config", type=Path, help="JSON file with a base index config")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, dotted keys for nested fields (repeatable), e.g. encoder.quantize=int8",
    )
    parser.add_argument("--out", type=Path, default=Path("runs"), help="result folder, or a .json file path")
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument("--limit-docs", type=int, help="smoke run: keep only the first N documents")
    cut.add_argument(
        "--sample-docs",
        type=int,
        help="subsample: the documents judged for the split, then the others in file order, N in all",
    )
    queries = parser.add_mutually_exclusive_group()
    queries.add_argument("--sample-queries", type=int, help="a seeded sample of N of the split's queries")
    queries.add_argument(
        "--title-queries",
        type=int,
        help="known-item task instead of the split's queries: N seeded documents, each found by the "
        "first sentence of its text",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample-queries and --title-queries")
    parser.add_argument("--index-dir", type=Path, help="keep the saved index here (absent or empty folder)")
    parser.add_argument(
        "--label", help="name of this configuration in tables (default: kind + changed settings)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m evals.beir`; returns the exit code (2 for bad arguments, config or data)."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    log_progress(logger)
    build_bar, search_bar = _Bar("build", "doc"), _Bar("search", "query")
    try:
        config = build_config(args.kind, args.config, args.overrides)
        dataset = load_beir(args.data, args.split, args.limit_docs)
        if args.sample_docs is not None:
            dataset = sample_docs(dataset, args.sample_docs)
        if args.sample_queries is not None:
            dataset = sample_queries(dataset, args.sample_queries, args.seed)
        if args.title_queries is not None:
            dataset = title_queries(dataset, args.title_queries, args.seed)
        result = run(
            config,
            dataset,
            index_dir=args.index_dir,
            label=args.label,
            build_progress=build_bar,
            search_progress=search_bar,
        )
    except (InvalidConfig, InvalidInput, UnsupportedOperation) as exc:
        print(f"evals.beir: error: {exc}", file=sys.stderr)
        return 2
    finally:
        build_bar.close()
        search_bar.close()
    data = {**result.model_dump(mode="json"), "ranked": result.ranked}  # benchmarks.run fuses rankings
    path = report.write_json(_output_path(args.out, result), data)
    print(markdown_table([result]))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
