"""How much ranking quality a residual codec keeps, apart from any search stage.

Every SciFact document's pooled token vectors (pool factor 2, from the haystack benchmark's MiniLM
encoding cache) are encoded with a codec variant and decoded again; every judged query is then
scored against every document with exact MaxSim over the decoded vectors, so the nDCG@10 measures
the codec alone. Variants (`--variant`, repeatable):

- `float16`: the stored vectors as they are (the reference);
- `pq=64`: product-quantised residuals, 64 bytes a vector, codec fitted on all vectors (`pq=0`:
  4-bit scalar residuals);
- `pq=64,dim=128`: with a PCA to 128 dimensions first;
- `pq=64,first=32768`: codec fitted on the first 32,768 vectors only (as a collection that grew
  from a small start keeps), centroids counted for that size;
- `pq=64,first=32768,refit`: that codec's decoded vectors used to fit a new codec for the whole
  corpus, and encoded again with it (what a merge's refit does);
- `pq=64,probe=0`: vectors assigned their exact nearest centroid (`probe=N`: coarse-to-fine over N
  centroid groups, the default 8; `indexers.storage.centroid_assign`);
- `pq=64,iters=4`: the centroids' k-means run for 4 rounds (default `KMEANS_ITERATIONS`);
- `pq=64,k=8192`: that many centroids instead of the automatic count for the corpus (the count a
  larger collection gets, to see what assignment costs there).

Each row also reports the mean squared error of the decoded vectors (in the codec's space; steadier
than nDCG@10, which moves by a few tenths of a point between fits on differently ordered samples)
and the seconds to fit the codec and to encode every vector (the index build's share).

    python -m benchmarks.codec_fidelity --data ../shared/data/scifact --split dev \\
        --variant float16 --variant pq=64 --variant pq=64,first=32768,refit
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.haystack import cache_folder, encode_once, open_cache
from evals import report
from evals.beir import quality
from evals.datasets import load_beir
from indexers.scoring.pooling import pool_tokens
from indexers.storage.centroid_assign import DEFAULT_PROBE
from indexers.storage.residual import KMEANS_ITERATIONS, MAX_FIT_SAMPLE, ResidualCodec, auto_num_centroids

__all__ = ["main", "parse_variant", "round_trip", "squared_error"]

POOL_FACTOR = 2


def parse_variant(text: str) -> dict[str, Any]:
    """`pq=64,dim=128,first=32768,refit` -> settings; `float16` -> {} (no codec).

    >>> parse_variant("pq=64,first=32768,refit")
    {'pq': 64, 'dim': None, 'first': 32768, 'refit': True, 'probe': 8, 'iters': 10, 'k': None}
    """
    if text == "float16":
        return {}
    parts = dict(item.partition("=")[::2] for item in text.split(","))
    return {
        "pq": int(parts.get("pq", 64)),
        "dim": int(parts["dim"]) if parts.get("dim") else None,
        "first": int(parts["first"]) if parts.get("first") else None,
        "refit": "refit" in parts,
        "probe": int(parts.get("probe", DEFAULT_PROBE)),
        "iters": int(parts.get("iters", KMEANS_ITERATIONS)),
        "k": int(parts["k"]) if parts.get("k") else None,
    }


def _fit(vectors: np.ndarray, size: int, settings: dict[str, Any], seed: int = 0) -> ResidualCodec:
    """A codec for a store of `size` vectors, fitted on (a sample of at most MAX_FIT_SAMPLE of) `vectors`."""
    if len(vectors) > MAX_FIT_SAMPLE:
        take = np.sort(np.random.default_rng(seed).choice(len(vectors), MAX_FIT_SAMPLE, replace=False))
        vectors = vectors[take]
    pq = settings["pq"] or None
    return ResidualCodec.fit(
        vectors,
        min(settings["k"] or auto_num_centroids(size, pq), len(vectors)),
        4,
        settings["dim"],
        seed=seed,
        pq_m=pq,
        fit_vectors=size,
        assign_probe=settings["probe"],
        iterations=settings["iters"],
    )


def _round_trip(codec: ResidualCodec, vectors: np.ndarray) -> np.ndarray:
    codes, packed = codec.encode(vectors)
    return codec.decode(codes, packed)


def round_trip(
    vectors: np.ndarray, settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray | None, dict[str, float]]:
    """The vectors encoded and decoded by the variant's codec(s), the PCA projection queries need, and
    the seconds spent fitting and encoding (`fit_s`, `encode_s`)."""
    if not settings:
        return vectors, None, {}
    first = settings["first"]
    started = time.perf_counter()
    codec = _fit(vectors[:first] if first else vectors, first or len(vectors), settings)
    fitted = time.perf_counter()
    decoded = _round_trip(codec, vectors)
    seconds = {"fit_s": fitted - started, "encode_s": time.perf_counter() - fitted}
    if settings["refit"]:
        decoded = _round_trip(_fit(decoded, len(decoded), {**settings, "dim": None}, seed=1), decoded)
    return decoded, codec.projection, seconds


def squared_error(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Mean over vectors of the squared L2 distance between `decoded` and `reference`, in chunks."""
    total = 0.0
    for start in range(0, len(reference), 65_536):
        part = slice(start, start + 65_536)
        total += float(np.square(decoded[part] - reference[part]).sum())
    return total / max(len(reference), 1)


def _exhaustive(
    vectors: np.ndarray, starts: np.ndarray, queries: dict[str, np.ndarray], projection: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per query id, the top 100 document positions by exact MaxSim over every document."""
    top = {}
    for qid, query in queries.items():
        q = query if projection is None else query @ projection
        scores = np.maximum.reduceat(q @ vectors.T, starts, axis=1).sum(axis=0)
        top[qid] = np.argsort(-scores)[:100]
    return top


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.codec_fidelity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="the SciFact BEIR folder")
    parser.add_argument("--split", default="dev", help="qrels split (default dev)")
    parser.add_argument("--variant", action="append", required=True, help="see the module docstring")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="encoding cache")
    parser.add_argument("--out", type=Path, help="report stem (markdown and JSON)")
    args = parser.parse_args(argv)
    dataset = load_beir(args.data, args.split)
    folder = cache_folder(dataset, args.runs_dir)
    encode_once(dataset, folder)
    store, cached = open_cache(dataset, folder)
    pooled = [pool_tokens(store.doc_vectors(i), POOL_FACTOR).vectors for i in range(store.num_slots)]
    vectors = np.concatenate(pooled).astype(np.float16).astype(np.float32)
    starts = np.cumsum([0] + [len(p) for p in pooled[:-1]])
    queries = {qid: cached[text].vectors.astype(np.float32) for qid, text in dataset.queries.items()}
    ids = [d.id for d in dataset.docs]
    rows = []
    for variant in args.variant:
        started = time.perf_counter()
        decoded, projection, seconds = round_trip(vectors, parse_variant(variant))
        error = squared_error(vectors if projection is None else vectors @ projection, decoded)
        top = _exhaustive(decoded, starts, queries, projection)
        scores = quality({qid: [ids[i] for i in t] for qid, t in top.items()}, dataset)
        row = {"variant": variant, **scores, "mse": error, **seconds}
        rows.append(row | {"seconds": time.perf_counter() - started})
        print(
            f"{variant}: nDCG@10 {scores['ndcg_at_10']:.4f} R@100 {scores['recall_at_100']:.4f} "
            f"MSE {error:.5f} {seconds}",
            flush=True,
        )
    table = report.markdown_table(
        ("variant", "nDCG@10", "R@100", "MSE", "fit s", "encode s"),
        [
            (
                r["variant"],
                report.cell(r["ndcg_at_10"], ".4f"),
                report.cell(r["recall_at_100"], ".4f"),
                report.cell(r["mse"], ".5f"),
                report.cell(r.get("fit_s"), ".1f"),
                report.cell(r.get("encode_s"), ".1f"),
            )
            for r in rows
        ],
    )
    print(table)
    if args.out:
        head = f"Codec fidelity, SciFact {args.split}, {len(ids):,} documents, exhaustive MaxSim"
        command = "python -m benchmarks.codec_fidelity " + " ".join(sys.argv[1:] if argv is None else argv)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        note = f"`{command}`; load average (1, 5, 15 min) {load} at the end."
        report.write_report(
            args.out,
            f"# {head}\n\n{note}\n\n{table}\n",
            {"split": args.split, "command": command, "rows": rows},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
