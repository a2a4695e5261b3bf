"""GENRE beside BM25 and dense on SciFact, and the memory of a name trie against dense vectors.

    python -m benchmarks.genre_table --data ../shared/data/scifact [--title-queries 200] [--dev-queries 150]
        [--seed 0] [--sizes 5000,50000,500000] [--genre-set num_beams=10] [--genre-model smollm2-135m]
        [--genre-model runs/genre-scifact] [--query-batch 8] [--speed-queries 24] [--out docs/results]

Two query sets over the whole corpus: title retrieval (a seeded sample of documents; query = the first
sentence of the abstract, target = that document) and SciFact dev (BEIR judgments). Each kind is built
once and answers both, one query at a time: accuracy@1, nDCG@10, p50/p95 latency, index bytes, model
bytes. Each `--genre-model` gives one genre row; a genre row then searches the first `--speed-queries`
title queries again, `--query-batch` per call, for beam-steps/s with queries decoded together. The
memory table tokenises synthetic names (2-6 words drawn from the corpus titles, seeded) and
builds the trie; the dense column is what a flat float32 index of one 384-d MiniLM vector per name
stores (n x 384 x 4 bytes), computed, not encoded. Results go to `scifact-genre.md` / `.json`,
written after every stage.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evals.beir import _folder_bytes, _peak_rss_mb
from evals.datasets import load_beir
from evals.metrics import ndcg_at_k
from indexers.base import Doc, Index
from indexers.configs import parse_config
from indexers.generation.name_trie import NameTrie
from indexers.kinds.genre import GenreIndex
from indexers.models.causal_lm import default_cache_dir, resolve_lm_folder
from indexers.registry import create_index, open_index
from indexers.train.genre import sentences

DENSE_DIM = 384

Task = tuple[dict[str, str], dict[str, dict[str, int]]]
"""Queries (id -> text) and their judgments (id -> document id -> relevance)."""


def title_task(docs: list[Doc], n: int, seed: int) -> Task:
    """Queries (first sentence of the abstract) and qrels (the document itself) for `n` seeded documents."""
    usable = [d for d in docs if d.title and sentences(d.text)]
    sample = random.Random(seed).sample(usable, min(n, len(usable)))
    queries = {f"t{d.id}": sentences(d.text)[0] for d in sample}
    return queries, {f"t{d.id}": {d.id: 1} for d in sample}


def evaluate(
    index: Index, queries: dict[str, str], qrels: dict[str, dict[str, int]], top1: dict[str, str]
) -> dict[str, float]:
    """Accuracy@1, nDCG@10 and latency percentiles, searching one query at a time; each query's first
    hit goes into `top1`."""
    latencies, acc, ndcg = [], [], []
    for qid, text in queries.items():
        started = time.perf_counter()
        hits = index.search([text], k=10)[0]
        latencies.append((time.perf_counter() - started) * 1000)
        ranking = [h.doc_id for h in hits]
        if ranking:
            top1[qid] = ranking[0]
        acc.append(float(bool(ranking) and qrels[qid].get(ranking[0], 0) > 0))
        ndcg.append(ndcg_at_k(ranking, qrels[qid], 10))
    return {
        "queries": len(queries),
        "accuracy_at_1": statistics.fmean(acc),
        "ndcg_at_10": statistics.fmean(ndcg),
        "latency_ms_p50": float(np.percentile(latencies, 50)),
        "latency_ms_p95": float(np.percentile(latencies, 95)),
        "search_s": sum(latencies) / 1000,
    }


def model_bytes(index: Index) -> int:
    """Bytes of the model parameters the index searches with (0 for BM25)."""
    if isinstance(index, GenreIndex):
        net = index.lm.model
    elif hasattr(index, "encoder"):
        net = getattr(index.encoder, "net", None)
    else:
        return 0
    return sum(p.numel() * p.element_size() for p in net.parameters()) if net is not None else 0


def batched_speed(
    index: GenreIndex, queries: dict[str, str], top1: dict[str, str], batch: int
) -> dict[str, Any]:
    """Search `queries` again, `batch` per call: beam-steps/s, ms per query, and for how many queries the
    first hit is the one-query search's first hit (`top1`; padding changes the arithmetic slightly)."""
    ids, texts = list(queries), list(queries.values())
    index.stats.forwards = index.stats.beam_steps = 0
    started = time.perf_counter()
    rows = [hits for at in range(0, len(texts), batch) for hits in index.search(texts[at : at + batch], k=1)]
    seconds = time.perf_counter() - started
    return {
        "queries": len(texts),
        "batch": batch,
        "beam_steps_per_s": index.stats.beam_steps / seconds,
        "ms_per_query": seconds * 1000 / len(texts),
        "forwards_per_query": index.stats.forwards / len(texts),
        "same_top1": sum(
            bool(hits) and hits[0].doc_id == top1.get(q) for q, hits in zip(ids, rows, strict=True)
        ),
    }


def run_kind(
    config: dict[str, Any], docs: list[Doc], tasks: dict[str, Task], batch: int, speed_queries: int
) -> dict[str, Any]:
    """Build one kind over the corpus, save and reopen it, and evaluate it on every task; genre kinds
    then search the first `speed_queries` title queries again, `batch` per call."""
    index = create_index(parse_config(config))
    started = time.perf_counter()
    index.build(docs)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="genre-bench-") as tmp:
        index.save(Path(tmp) / "index")
        index_bytes = _folder_bytes(Path(tmp) / "index")
        started = time.perf_counter()
        index = open_index(Path(tmp) / "index")
        load_s = time.perf_counter() - started
        index.search(["warm up"], k=10)
        top1: dict[str, str] = {}
        if isinstance(index, GenreIndex):
            index.stats.forwards = index.stats.beam_steps = 0
        row: dict[str, Any] = {
            "kind": config["kind"],
            "config": config,
            "build_s": build_s,
            "load_s": load_s,
            "index_bytes": index_bytes,
            "model_bytes": model_bytes(index),
            "tasks": {name: evaluate(index, q, r, top1) for name, (q, r) in tasks.items()},
            "peak_rss_mb": _peak_rss_mb(),
        }
        if isinstance(index, GenreIndex):
            seconds = sum(t["search_s"] for t in row["tasks"].values())
            row["beam_steps_per_s"] = index.stats.beam_steps / seconds
            queries = sum(t["queries"] for t in row["tasks"].values())
            row["forwards_per_query"] = index.stats.forwards / queries
            row["trie_bytes"] = index.trie.nbytes if index.trie is not None else 0
            if batch > 1 and speed_queries:
                titles = dict(list(tasks["title"][0].items())[:speed_queries])
                row["batched"] = batched_speed(index, titles, top1, batch)
    return row


def memory_table(docs: list[Doc], sizes: list[int], seed: int, model: str) -> list[dict[str, Any]]:
    """Trie bytes against flat dense-vector bytes for synthetic name sets; build, reload and update times."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_lm_folder(model, default_cache_dir()))
    words = sorted({w for d in docs if d.title for w in d.title.split() if w.isalpha()})
    rng = random.Random(seed)
    rows = []
    for size in sizes:
        names = list({" ".join(rng.choices(words, k=rng.randint(2, 6))) for _ in range(size)})
        started = time.perf_counter()
        tokens = tokenizer(names, add_special_tokens=False)["input_ids"]
        tokenize_s = time.perf_counter() - started
        started = time.perf_counter()
        trie, _ = NameTrie.from_names(tokens, int(tokenizer.eos_token_id), len(tokenizer))
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="genre-trie-") as tmp:
            trie.save(Path(tmp))
            started = time.perf_counter()
            loaded = NameTrie.load(Path(tmp))
            load_s = time.perf_counter() - started
            extra = [tokenizer(f"new entity {i}", add_special_tokens=False)["input_ids"] for i in range(1000)]
            started = time.perf_counter()
            ids = [loaded.insert(t) for t in extra]
            insert_us = (time.perf_counter() - started) / len(extra) * 1e6
            started = time.perf_counter()
            for name_id in ids:
                loaded.release(name_id)
            release_us = (time.perf_counter() - started) / len(ids) * 1e6
        rows.append(
            {
                "names": len(names),
                "tokens": int(sum(map(len, tokens))),
                "trie_nodes": len(trie.node_token),
                "trie_bytes": trie.nbytes,
                "dense_bytes": len(names) * DENSE_DIM * 4,
                "tokenize_s": tokenize_s,
                "build_s": build_s,
                "load_s": load_s,
                "insert_us": insert_us,
                "release_us": release_us,
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# GENRE on SciFact: title retrieval, SciFact dev, memory",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']}.",
        "",
    ]
    for task, label in (("title", "Title retrieval"), ("dev", "SciFact dev")):
        n = next((r["tasks"][task]["queries"] for r in result["kinds"] if task in r["tasks"]), 0)
        lines += [
            f"## {label} ({n} queries, {result['num_docs']} documents)",
            "",
            "| kind/config | accuracy@1 | nDCG@10 | p50 ms | p95 ms | index MB | model MB | build s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in result["kinds"]:
            if task not in row["tasks"]:
                continue
            t = row["tasks"][task]
            lines.append(
                f"| {row['label']} | {t['accuracy_at_1']:.3f} | {t['ndcg_at_10']:.3f} | "
                f"{t['latency_ms_p50']:.1f} | {t['latency_ms_p95']:.1f} | {row['index_bytes'] / 2**20:.2f} | "
                f"{row['model_bytes'] / 2**20:.0f} | {row['build_s']:.1f} |"
            )
        lines.append("")
    for row in result["kinds"]:
        if "beam_steps_per_s" in row:
            lines.append(
                f"- {row['label']}: {row['beam_steps_per_s']:.1f} beam-steps/s, "
                f"{row['forwards_per_query']:.1f} forward passes per query, trie {row['trie_bytes']:,} bytes "
                "(one query per call)."
            )
        if "batched" in row:
            b = row["batched"]
            lines.append(
                f"- {row['label']}, {b['batch']} queries per call ({b['queries']} title queries): "
                f"{b['beam_steps_per_s']:.1f} beam-steps/s, {b['ms_per_query']:.0f} ms per query, "
                f"{b['forwards_per_query']:.1f} forward passes per query; first hit as in one-query calls "
                f"for {b['same_top1']} of {b['queries']}."
            )
    if result.get("memory"):
        lines += [
            "",
            "## Memory: name trie against dense vectors (synthetic names)",
            "",
            "| names | tokens | trie nodes | trie MB | dense MB (n x 384 x 4) | dense / trie | "
            "trie build s | reload ms | insert µs | release µs |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in result["memory"]:
            lines.append(
                f"| {m['names']:,} | {m['tokens']:,} | {m['trie_nodes']:,} | {m['trie_bytes'] / 2**20:.1f} | "
                f"{m['dense_bytes'] / 2**20:.1f} | {m['dense_bytes'] / m['trie_bytes']:.1f} | "
                f"{m['build_s']:.2f} | {m['load_s'] * 1000:.1f} | {m['insert_us']:.0f} | "
                f"{m['release_us']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def _set(config: dict[str, Any], item: str) -> None:
    key, _, value = item.partition("=")
    config[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.genre_table", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--title-queries", type=int, default=200)
    parser.add_argument("--dev-queries", type=int, default=None, help="seeded subsample of SciFact dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="5000,50000,500000")
    parser.add_argument("--kinds", default="bm25,dense,genre")
    parser.add_argument("--genre-set", action="append", default=[], help="genre config key=value")
    parser.add_argument(
        "--genre-model",
        action="append",
        default=[],
        help="one genre row per model (packaged alias or folder, e.g. fine-tuned); default smollm2-135m",
    )
    parser.add_argument(
        "--query-batch", type=int, default=8, help="genre: queries per call in the speed probe"
    )
    parser.add_argument(
        "--speed-queries", type=int, default=24, help="genre: title queries in the speed probe"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--machine", default="2 shared CPU cores")
    args = parser.parse_args(argv)
    dataset = load_beir(args.data, "dev")
    tasks = {"title": title_task(dataset.docs, args.title_queries, args.seed)}
    dev_ids = sorted(dataset.queries)
    if args.dev_queries is not None:
        dev_ids = sorted(random.Random(args.seed).sample(dev_ids, min(args.dev_queries, len(dev_ids))))
    tasks["dev"] = ({q: dataset.queries[q] for q in dev_ids}, {q: dataset.qrels[q] for q in dev_ids})
    genre: dict[str, Any] = {"kind": "genre"}
    for item in args.genre_set:
        _set(genre, item)
    models = args.genre_model or [str(genre.get("model", "smollm2-135m"))]
    rows: list[tuple[str, dict[str, Any]]] = []
    for kind in args.kinds.split(","):
        if kind != "genre":
            rows.append((kind, {"kind": kind}))
        for model in models if kind == "genre" else []:
            label = " ".join(["genre", f"model={model}", *args.genre_set])
            rows.append((label, {**genre, "kind": "genre", "model": model, "query_batch": args.query_batch}))
    result: dict[str, Any] = {
        "command": "python -m benchmarks.genre_table " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": args.machine,
        "num_docs": len(dataset.docs),
        "seed": args.seed,
        "kinds": [],
        "memory": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        (args.out / "scifact-genre.json").write_text(json.dumps(result, indent=2))
        (args.out / "scifact-genre.md").write_text(markdown(result))

    sizes = [int(s) for s in args.sizes.split(",") if s]
    result["memory"] = memory_table(dataset.docs, sizes, args.seed, models[0])
    write()
    print(markdown(result), flush=True)
    for label, config in rows:
        row = run_kind(config, dataset.docs, tasks, args.query_batch, args.speed_queries)
        row["label"] = label
        result["kinds"].append(row)
        write()
        print(markdown(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
