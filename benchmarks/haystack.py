"""Haystack benchmark: SciFact's real documents inside synthetic distractors, `colbert_pooled` beside
PyLate's PLAID fed the same vectors, at several corpus sizes.

    python -m benchmarks.haystack --data ../shared/data/scifact --sizes 10000,100000 \
        [--kind xtr] [--set vector_codec=residual --set reduce_dim=128] [--no-plaid] \
        [--out docs/results/haystack] [--keep-indexes runs/haystack-indexes]

Sizes count distractors; every haystack also holds the 5,183 real documents. The corpus and the dev
queries are encoded once with the packaged MiniLM token encoder and cached under
`runs/haystack-cache/` (float16 token vectors and token ids), so reruns skip encoding.

Distractor `i` (`Distractors`) is generated from its own seeded generator (`seed`, `i`): its length
is the token count of a real document drawn uniformly, and each of its tokens is a token of the real
corpus drawn uniformly with replacement, vector and token id together. Nothing is held: any
distractor is made again on demand, so a haystack streams through the index in chunks.

Per size, each side runs in its own process, watched from here (peak RSS from `wait4`, peak
anonymous memory sampled from `/proc/<pid>/status` every 0.2 s, so input files a process maps
count in the first only):

- ours: `colbert_pooled` (or `--kind xtr`, which has no PLAID side) with its default config plus
  `--set` overrides, fed through an encoder that
  returns the cached or generated vectors (`HaystackEncoder`); build (pooling included, vector
  lookup and generation excluded: the time spent inside the encoder is subtracted), save as a
  version, reopen, search every dev query one at a time (k=100, query vectors given, after one
  warm-up query), then add 1,000 more distractors and save the result as a new version
  (`save_version`, what a write does), timed the same way;
- PLAID: the same documents pooled exactly as `colbert_pooled` pools them (`pool_documents`) and the
  same query vectors, written to files, then `benchmarks/plaid_side.py` in a virtualenv of its own
  (`.venv-plaid/`, made on first use: PyLate 1.6.0, its vendored Stanford PLAID, torch 2.13).

nDCG@10 and Recall@100 count the real documents' dev judgments only (distractors are never
relevant). Writes `<out>.md`, `<out>.json` and `<out>.png` (cost against corpus size), with a
log-log fit `cost = a * docs^b` of every column and its projection to 1M and 10M documents.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.xtr_table import CachedDocuments, cached
from evals.beir import build_config, quality, search_judged
from evals.datasets import BeirDataset, load_beir
from evals.metrics import ndcg_at_k, per_query
from evals.paired import paired_comparison
from evals.report import cell, markdown_table, paired_table, write_json, write_report
from indexers.base import Progress
from indexers.cli_args import parse_args
from indexers.configs import EncoderConfig
from indexers.errors import UnsupportedOperation
from indexers.models.encoders import TokenEmbeddings, TokenEncoder, load_token_encoder
from indexers.registry import create_index
from indexers.scoring.pooling import pool_documents
from indexers.storage.token_store import TokenStore
from indexers.storage.versions import open_version, save_version
from indexers.types import Doc

__all__ = [
    "Distractors",
    "HaystackEncoder",
    "cache_folder",
    "encode_once",
    "ensure_plaid_venv",
    "export_plaid_input",
    "fit_growth",
    "folder_bytes",
    "growth",
    "main",
    "markdown",
    "paired_lines",
    "measure_ours",
    "open_cache",
    "plot",
    "run_size",
    "summarise",
    "watch",
]

PREFIX = "haystack:"
SEED = 0
ADD = 1_000
SPLIT = "dev"
NAME = "haystack"
VENV = Path(".venv-plaid")
PLAID_SIDE = Path("benchmarks/plaid_side.py")
PLAID_DEPS = [
    "torch==2.13.0",
    "sentence-transformers==5.3.0",
    "transformers>=4.41.0,<=5.3.0",
    "datasets>=2.20.0",
    "accelerate>=0.31.0",
    "pandas>=2.2.1",
    "ujson==5.12.0",
    "ninja==1.11.1.4",
    "fastkmeans==0.5.0",
    "usearch>=2.21.0",  # fast-plaid's
]
PLAID_NO_DEPS = ["pylate==1.6.0", "fast-plaid==1.4.6.2110"]
PROJECT_TO = (1_000_000, 10_000_000)
KINDS = ("colbert_pooled", "xtr")
"""The kinds our side can run."""


class Distractors:
    """Synthetic documents made of the real corpus's token vectors (see the module docstring)."""

    def __init__(self, store: TokenStore, seed: int = SEED) -> None:
        self.store, self.seed = store, seed
        self.lengths = np.diff(np.asarray(store.offsets))
        self.num_rows = store.num_vectors

    def tokens(self, i: int) -> TokenEmbeddings:
        """Distractor `i`'s token vectors and token ids (the same for the same seed and `i`)."""
        rng = np.random.default_rng((self.seed, i))
        length = int(self.lengths[rng.integers(len(self.lengths))])
        rows = rng.integers(self.num_rows, size=length)
        vectors = self.store.decode(self.store.rows[rows])
        return TokenEmbeddings(vectors, np.asarray(self.store.token_ids[rows], dtype=np.int32))

    @staticmethod
    def docs(start: int, count: int) -> list[Doc]:
        """Distractors `start ..< start + count` as documents whose text is their key."""
        return [Doc(id=f"{PREFIX}{i}", text=f"{PREFIX}{i}") for i in range(start, start + count)]


class HaystackEncoder(TokenEncoder):
    """Returns precomputed token vectors: cached ones for the real documents (by text) and the
    queries, generated ones for distractor keys. `seconds` adds up the time spent in `encode`."""

    def __init__(
        self, store: TokenStore, texts: Sequence[str], queries: dict[str, TokenEmbeddings], seed: int = SEED
    ) -> None:
        super().__init__(EncoderConfig())
        self.store, self.queries, self.dim = store, queries, store.dim
        self.distractors = Distractors(store, seed)
        self.position = {text: i for i, text in reversed(list(enumerate(texts)))}
        self.seconds = 0.0

    def encode(
        self, texts: Sequence[str], *, is_query: bool, progress: Progress | None = None
    ) -> list[TokenEmbeddings]:
        start = time.perf_counter()
        out = [self._one(text, is_query) for text in texts]
        if progress is not None:
            progress(len(texts), len(texts))
        self.seconds += time.perf_counter() - start
        return out

    def _one(self, text: str, is_query: bool) -> TokenEmbeddings:
        if is_query:
            return self.queries[text]
        if text.startswith(PREFIX):
            return self.distractors.tokens(int(text[len(PREFIX) :]))
        internal = self.position[text]
        rows = self.store.doc_rows(internal)
        return TokenEmbeddings(self.store.doc_vectors(internal), np.asarray(self.store.token_ids[rows]))

    def _unsupported(self) -> UnsupportedOperation:
        return UnsupportedOperation("the haystack encoder only returns precomputed vectors")

    def _token_ids(self, texts: Sequence[str], *, is_query: bool) -> list[list[int]]:
        raise self._unsupported()

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise self._unsupported()

    def _document_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        raise self._unsupported()

    def decode_tokens(self, token_ids: Sequence[int] | np.ndarray) -> list[str]:
        raise self._unsupported()


# --- the encoding cache ------------------------------------------------------------------------


def cache_folder(dataset: BeirDataset, runs: Path) -> Path:
    """The cache of one corpus and split under `runs/haystack-cache/`."""
    corpus = hashlib.sha1("\n".join(d.id for d in dataset.docs).encode()).hexdigest()[:12]
    return runs / "haystack-cache" / f"{dataset.name}-{corpus}-minilm"


def encode_once(dataset: BeirDataset, folder: Path) -> None:
    """Encode the corpus (`CachedDocuments`) and the split's queries into `folder` unless there."""
    queries_file = folder / f"queries-{dataset.split}.npz"
    if cached(folder) and queries_file.is_file():
        return
    model = load_token_encoder(EncoderConfig())
    CachedDocuments.open(model, [d.full_text for d in dataset.docs], folder)
    texts = list(dataset.queries.values())
    encoded = model.encode(texts, is_query=True)
    np.savez(
        queries_file,
        texts=np.asarray(texts),
        vectors=np.concatenate([e.vectors for e in encoded]),
        token_ids=np.concatenate([e.token_ids for e in encoded]),
        offsets=np.cumsum([0] + [len(e.vectors) for e in encoded]),
    )


def open_cache(dataset: BeirDataset, folder: Path) -> tuple[TokenStore, dict[str, TokenEmbeddings]]:
    """The cached corpus store (memory-mapped) and the split's query vectors by query text."""
    saved = np.load(folder / f"queries-{dataset.split}.npz")
    vectors, token_ids, offsets = saved["vectors"], saved["token_ids"], saved["offsets"]
    queries = {
        str(text): TokenEmbeddings(
            vectors[offsets[i] : offsets[i + 1]], token_ids[offsets[i] : offsets[i + 1]]
        )
        for i, text in enumerate(saved["texts"])
    }
    return TokenStore.load(folder, vectors.shape[1], "float16", 48), queries


# --- one side, one size, in its own process ------------------------------------------------------


def _haystack(dataset: BeirDataset, size: int) -> list[Doc]:
    return dataset.docs + Distractors.docs(0, size)


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_ours(
    data: Path,
    size: int,
    overrides: Sequence[str],
    runs: Path,
    kind: str = "colbert_pooled",
    keep: Path | None = None,
) -> dict[str, Any]:
    """Build, save, reopen, search and add-1,000 for `kind` over one haystack (this process); with
    `keep`, the index stays in `keep/<size>` as it stands after the add."""
    dataset = load_beir(data, SPLIT)
    store, queries = open_cache(dataset, cache_folder(dataset, runs))
    encoder = HaystackEncoder(store, [d.full_text for d in dataset.docs], queries)
    config = build_config(kind, None, overrides)
    docs = _haystack(dataset, size)
    with tempfile.TemporaryDirectory(prefix="tessera-haystack-") as tmp:
        root = Path(tmp) if keep is None else keep / str(size)
        index = create_index(config)
        index.use_encoder(encoder)  # type: ignore[attr-defined]
        start = time.perf_counter()
        index.build(docs)
        build_seconds = time.perf_counter() - start - encoder.seconds
        vectors = int(index.num_vectors)  # type: ignore[attr-defined]
        version = save_version(index, root, NAME)
        index_bytes = folder_bytes(root / NAME / version)
        del index
        index = open_version(root, NAME, version)
        index.use_encoder(encoder)  # type: ignore[attr-defined]
        ranked, latencies_ms = search_judged(index, dataset)
        encoder.seconds = 0.0
        start = time.perf_counter()
        index.add(Distractors.docs(size, ADD))
        save_version(index, root, NAME)
        add_seconds = time.perf_counter() - start - encoder.seconds
    return {
        "config": config.model_dump(mode="json"),
        "docs": len(docs),
        "vectors": vectors,
        "build_seconds": build_seconds,
        "index_bytes": index_bytes,
        "add_docs": ADD,
        "add_seconds": add_seconds,
        "latencies_ms": latencies_ms.tolist(),
        "ranked": ranked,
    }


def export_plaid_input(data: Path, size: int, pool_factor: int, runs: Path, folder: Path) -> dict[str, Any]:
    """Write the haystack's pooled document vectors, the 1,000 added ones and the query vectors as
    `benchmarks/plaid_side.py` reads them; returns the seconds spent pooling."""
    dataset = load_beir(data, SPLIT)
    store, queries = open_cache(dataset, cache_folder(dataset, runs))
    encoder = HaystackEncoder(store, [d.full_text for d in dataset.docs], queries)
    folder.mkdir(parents=True, exist_ok=True)
    pooling = 0.0
    parts = {"docs": _haystack(dataset, size), "add": Distractors.docs(size, ADD)}
    for part, docs in parts.items():
        offsets = [0]
        with open(folder / f"{part}.vectors.f16", "wb") as out:
            for start in range(0, len(docs), 1024):
                embedded = encoder.encode([d.full_text for d in docs[start : start + 1024]], is_query=False)
                started = time.perf_counter()
                pooled = pool_documents([e.vectors for e in embedded], pool_factor)
                pooling += time.perf_counter() - started
                for p in pooled:
                    p.vectors.astype(np.float16).tofile(out)
                    offsets.append(offsets[-1] + len(p.vectors))
        np.save(folder / f"{part}.offsets.npy", np.asarray(offsets, dtype=np.int64))
        (folder / f"{part}.ids.txt").write_text("\n".join(d.id for d in docs) + "\n", encoding="utf-8")
    ids = list(dataset.queries)
    vectors = [queries[dataset.queries[q]].vectors for q in ids]
    np.concatenate(vectors).astype(np.float16).tofile(folder / "queries.vectors.f16")
    np.save(folder / "queries.offsets.npy", np.cumsum([0] + [len(v) for v in vectors]).astype(np.int64))
    (folder / "queries.ids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps({"dim": store.dim}), encoding="utf-8")
    return {"pooling_seconds": pooling}


# --- processes, watched ------------------------------------------------------------------------


def watch(command: Sequence[str], log: Path) -> dict[str, Any]:
    """Run `command` (output to `log`); its exit code, wall seconds, peak RSS (`wait4`) and peak
    anonymous memory (RssAnon sampled every 0.2 s), both MiB."""
    start = time.perf_counter()
    with open(log, "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    status = Path(f"/proc/{child.pid}/status")
    anon_kb = 0
    while True:
        pid, code, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    anon_kb = max(anon_kb, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(code)
    return {
        "returncode": child.returncode,
        "wall_seconds": time.perf_counter() - start,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "peak_anon_mb": anon_kb / 1024,
    }


def ensure_plaid_venv(log: Path, venv: Path = VENV) -> dict[str, Any]:
    """Make the PLAID virtualenv once (see ../shared/docs/platform.md): torch 2.13 and PyLate's
    other dependencies under constraints.txt, PyLate and fast-plaid without dependencies, then a tiny
    index so the C++ kernels compile; fast-plaid is tried on a tiny index too. Returns what happened."""
    marker = venv / "haystack-ready.json"
    if marker.is_file():
        return dict(json.loads(marker.read_text(encoding="utf-8")))
    python = str(venv / "bin" / "python")
    with open(log, "ab") as out:
        for step in (
            [sys.executable, "-m", "venv", str(venv)],
            [python, "-m", "pip", "install", "-c", "constraints.txt", *PLAID_DEPS],
            [python, "-m", "pip", "install", "--no-deps", *PLAID_NO_DEPS],
        ):
            subprocess.run(step, check=True, stdout=out, stderr=subprocess.STDOUT)
    with tempfile.TemporaryDirectory(prefix="plaid-warm-") as tmp:
        stanford = watch([python, "-P", str(PLAID_SIDE), "--warm-up", f"{tmp}/s"], log)
        fast = watch([python, "-P", str(PLAID_SIDE), "--warm-up", f"{tmp}/f", "--backend", "fast"], log)
    if stanford["returncode"] != 0:
        raise RuntimeError(
            f"PyLate's Stanford PLAID failed on a tiny index (exit {stanford['returncode']}); see {log}"
        )
    state = {"fast_plaid_returncode": fast["returncode"]}
    marker.write_text(json.dumps(state), encoding="utf-8")
    return state


# --- rows, table, fit, plot ----------------------------------------------------------------------

COLUMNS = (  # key, header, format, is a cost (fitted against corpus size)
    ("bytes_per_doc", "bytes/doc", ",.0f", True),
    ("build_docs_per_s", "build docs/s", ",.0f", True),
    ("add_seconds", "add 1,000 s", ".2f", True),
    ("p50_ms", "p50 ms", ".1f", True),
    ("p95_ms", "p95 ms", ".1f", True),
    ("peak_rss_mb", "peak RSS MB", ",.0f", True),
    ("peak_anon_mb", "peak anon MB", ",.0f", True),
    ("ndcg_at_10", "nDCG@10", ".3f", False),
    ("recall_at_100", "R@100", ".3f", False),
)


def summarise(
    system: str, size: int, result: dict[str, Any], watched: dict[str, Any], dataset: BeirDataset
) -> dict[str, Any]:
    """One table row from a side's result and how its process ran."""
    scores = quality(result["ranked"], dataset)
    latencies = np.asarray(result["latencies_ms"])
    return {
        "system": system,
        "distractors": size,
        "docs": result["docs"],
        "vectors": result["vectors"],
        "bytes_per_doc": result["index_bytes"] / result["docs"],
        "build_docs_per_s": result["docs"] / result["build_seconds"],
        "build_seconds": result["build_seconds"],
        "add_seconds": result["add_seconds"],
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "peak_rss_mb": watched["peak_rss_mb"],
        "peak_anon_mb": watched["peak_anon_mb"],
        "ndcg_at_10": scores["ndcg_at_10"],
        "recall_at_100": scores["recall_at_100"],
        "ndcg_per_query": per_query(ndcg_at_k, result["ranked"], dataset.qrels, 10),
        "wall_seconds": watched["wall_seconds"],
        "load_1min": os.getloadavg()[0],
        "extra": {k: v for k, v in result.items() if k not in ("ranked", "latencies_ms")},
    }


def fit_growth(docs: Sequence[float], values: Sequence[float]) -> tuple[float, float] | None:
    """`(a, b)` of the least-squares line `log value = log a + b log docs`; None below two sizes or
    for a value that is not positive."""
    if len(set(docs)) < 2 or min(values) <= 0:
        return None
    b, log_a = np.polyfit(np.log(docs), np.log(values), 1)
    return float(np.exp(log_a)), float(b)


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every system's cost columns fitted against corpus size and projected to 1M and 10M documents."""
    out = []
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        for key, _, _, cost in COLUMNS:
            fitted = fit_growth([r["docs"] for r in mine], [r[key] for r in mine]) if cost else None
            if fitted is not None:
                a, b = fitted
                out.append(
                    {"system": system, "column": key, "a": a, "b": b}
                    | {f"at_{n}": a * n**b for n in PROJECT_TO}
                )
    return out


def _ratio(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    return {"system": f"ratio {ours['system']} / {peer['system']}", "docs": ours["docs"]} | {
        key: ours[key] / peer[key] if peer[key] else None for key, *_ in COLUMNS
    }


def paired_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per size, our side's per-query nDCG@10 against each peer's at that size (`paired_comparison`),
    as `paired_table`'s lines; empty without a peer."""
    return paired_table(
        (
            f"{row['system']} at {row['docs']:,} docs",
            f"{peer['system']} at {peer['docs']:,} docs",
            paired_comparison(row["ndcg_per_query"], peer["ndcg_per_query"]),
        )
        for row in rows
        if row["system"] in KINDS
        for peer in rows
        if peer["docs"] == row["docs"] and peer is not row
    )


def markdown(rows: list[dict[str, Any]], fits: list[dict[str, Any]], notes: list[str]) -> str:
    """The report: the table (rows and ratios per size), the paired quality tests, the growth fit, notes."""
    ours = [r for r in rows if r["system"] in KINDS]
    lines = []
    for row in ours:
        lines.append(row)
        peers = [r for r in rows if r["docs"] == row["docs"] and r is not row]
        lines += peers + [_ratio(row, peer) for peer in peers]
    paired = paired_lines(rows)
    table = markdown_table(
        ["system", "docs", *(h for _, h, _, _ in COLUMNS)],
        [
            [r["system"], cell(r["docs"], ",")]
            + [
                cell(r.get(key), ".2f" if r["system"].startswith("ratio") else spec)
                for key, _, spec, _ in COLUMNS
            ]
            for r in lines
        ],
    )
    headers = {key: h for key, h, _, _ in COLUMNS}
    specs = {key: spec for key, _, spec, _ in COLUMNS}
    fit_table = markdown_table(
        ["system", "column", "b (cost ~ a n^b)", *(f"at {n:,} docs" for n in PROJECT_TO)],
        [
            [f["system"], headers[f["column"]], cell(f["b"], "+.2f")]
            + [cell(f[f"at_{n}"], specs[f["column"]]) for n in PROJECT_TO]
            for f in fits
        ],
        text_columns=2,
    )
    return (
        "\n\n".join(
            [
                table,
                *(["\n".join(paired)] if paired else []),
                "Growth (log-log least squares over the sizes measured; projections are extrapolations):",
                fit_table,
                *notes,
            ]
        )
        + "\n"
    )


def plot(rows: list[dict[str, Any]], fits: list[dict[str, Any]], path: Path) -> bool:
    """Cost columns against corpus size, one line per system, fits dashed to 10M; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = ["bytes_per_doc", "build_docs_per_s", "add_seconds", "p50_ms", "peak_rss_mb", "ndcg_at_10"]
    headers = {key: h for key, h, _, _ in COLUMNS}
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    for axis, key in zip(axes.flat, keys, strict=True):
        for system in dict.fromkeys(r["system"] for r in rows):
            mine = [r for r in rows if r["system"] == system]
            line = axis.plot([r["docs"] for r in mine], [r[key] for r in mine], "o-", label=system)[0]
            for f in fits:
                if f["system"] == system and f["column"] == key:
                    grid = np.geomspace(mine[0]["docs"], PROJECT_TO[-1], 20)
                    axis.plot(grid, f["a"] * grid ** f["b"], "--", color=line.get_color(), alpha=0.6)
        axis.set_xscale("log")
        if key != "ndcg_at_10":
            axis.set_yscale("log")
        axis.set_title(headers[key])
        axis.set_xlabel("documents")
    axes.flat[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


# --- command line ------------------------------------------------------------------------------


def _self(args: argparse.Namespace, *extra: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.haystack",
        "--data",
        str(args.data),
        "--runs-dir",
        str(args.runs_dir),
        "--kind",
        args.kind,
    ]
    if args.keep_indexes is not None:
        command += ["--keep-indexes", str(args.keep_indexes)]
    return command + [f"--set={item}" for item in args.set] + list(extra)


def run_size(
    args: argparse.Namespace,
    size: int,
    dataset: BeirDataset,
    plaid: dict[str, Any] | None,
    work: Path,
    log: Path,
) -> list[dict[str, Any]]:
    """Both sides at one size, each in its own process; their rows (a failed side has none)."""
    rows = []
    out = work / f"ours-{size}.json"
    watched = watch(_self(args, "--row", str(size), "--json", str(out)), log)
    if watched["returncode"] == 0:
        rows.append(summarise(args.kind, size, json.loads(out.read_text()), watched, dataset))
    else:
        print(
            f"haystack: {args.kind} at {size} failed (exit {watched['returncode']}); see {log}",
            file=sys.stderr,
        )
    if plaid is None:
        return rows
    folder = work / f"plaid-input-{size}"
    pool_factor = build_config("colbert_pooled", None, args.set).pool_factor  # type: ignore[union-attr]
    exported = work / f"export-{size}.json"
    done = watch(
        _self(
            args,
            "--export",
            str(size),
            "--pool-factor",
            str(pool_factor),
            "--plaid-input",
            str(folder),
            "--json",
            str(exported),
        ),
        log,
    )
    if done["returncode"] != 0:
        print(f"haystack: writing PLAID's input at {size} failed; see {log}", file=sys.stderr)
        return rows
    pooling = json.loads(exported.read_text())["pooling_seconds"]
    backends = [("stanford", "PyLate PLAID (Stanford)")]
    if plaid.get("fast_plaid_returncode") == 0:
        backends.append(("fast", "fast-plaid"))
    for backend, system in backends:
        out = work / f"plaid-{backend}-{size}.json"
        index = work / f"plaid-index-{size}"
        command = [
            str(VENV / "bin" / "python"),
            "-P",
            str(PLAID_SIDE),
            "--input",
            str(folder),
            "--index",
            str(index),
            "--out",
            str(out),
            "--backend",
            backend,
        ]
        watched = watch(command, log)
        shutil.rmtree(index, ignore_errors=True)
        if watched["returncode"] != 0:
            print(
                f"haystack: {system} at {size} failed (exit {watched['returncode']}); see {log}",
                file=sys.stderr,
            )
            continue
        result = json.loads(out.read_text()) | {"input_pooling_seconds": pooling}
        rows.append(summarise(system, size, result, watched, dataset))
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.haystack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="the SciFact BEIR folder")
    parser.add_argument("--sizes", default="10000,100000", help="distractor counts, comma-separated")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override of the kind (repeatable)",
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="colbert_pooled",
        help="our side's kind (PLAID runs beside colbert_pooled)",
    )
    parser.add_argument("--no-plaid", action="store_true", help="our side only")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="encoding cache and logs")
    parser.add_argument("--out", type=Path, default=Path("docs/results/haystack"), help="report stem")
    parser.add_argument(
        "--keep-indexes",
        type=Path,
        help="keep our side's index of each size in DIR/<size> (as it stands after the add)",
    )
    parser.add_argument("--row", type=int, help=argparse.SUPPRESS)  # our side at this size, here
    parser.add_argument("--export", type=int, help=argparse.SUPPRESS)  # PLAID's input at this size
    parser.add_argument("--pool-factor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--plaid-input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size, both sides; 1 if a side failed, 2 for bad arguments."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    if args.row is not None:
        write_json(
            args.json,
            measure_ours(args.data, args.row, args.set, args.runs_dir, args.kind, args.keep_indexes),
        )
        return 0
    if args.export is not None:
        write_json(
            args.json,
            export_plaid_input(args.data, args.export, args.pool_factor, args.runs_dir, args.plaid_input),
        )
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    dataset = load_beir(args.data, SPLIT)
    encode_once(dataset, cache_folder(dataset, args.runs_dir))
    log = args.runs_dir / "haystack.log"
    plaid = None if args.no_plaid or args.kind != "colbert_pooled" else ensure_plaid_venv(log)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tessera-haystack-", dir=args.runs_dir) as tmp:
        for size in sizes:
            rows += run_size(args, size, dataset, plaid, Path(tmp), log)
            print(f"haystack: {size:,} distractors done", file=sys.stderr, flush=True)
    if not rows:
        print("haystack: every run failed; nothing written", file=sys.stderr)
        return 1
    fits = growth(rows)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m benchmarks.haystack " + " ".join(sys.argv[1:] if argv is None else argv)
    config = build_config(args.kind, None, args.set)
    notes = [
        f"Generated {when} by `{command}` on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; "
        f"load average (1, 5, 15 min) {', '.join(f'{x:.1f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} after.",
        f"{args.kind} config: `{json.dumps(config.model_dump(mode='json'))}`.",
    ]
    if plaid is not None:
        notes.append(
            f"fast-plaid on a tiny index: exit code {plaid.get('fast_plaid_returncode')} "
            "(0: it ran and has rows; negative: killed by that signal)."
        )
    picture = args.out.with_suffix(".png")
    if plot(rows, fits, picture):
        notes.append(f"Plot: `{picture.name}`.")
    else:
        notes.append("No plot: matplotlib is not installed.")
    text = f"# Haystack: SciFact dev inside distractors\n\n{markdown(rows, fits, notes)}"
    write_report(
        args.out, text, {"rows": rows, "fits": fits, "plaid": plaid, "command": command, "when": when}
    )
    print(text)
    return 0 if all(len([r for r in rows if r["distractors"] == s]) for s in sizes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
