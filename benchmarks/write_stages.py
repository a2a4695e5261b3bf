"""A write's two stages besides encoding, each two ways side by side in one process: pooling
documents one at a time (`pool_tokens`) against `pool_documents`, and product-quantiser codes from
FAISS against the compiled loop (`PQEncoder`).

    python -m benchmarks.write_stages --data ../shared/data/scifact --docs 1000 [--rounds 2] [--out STEM]

The documents' MiniLM token vectors come from the haystack benchmark's cache (`runs/haystack-cache`,
made on first use). The codes are those of a codec fitted on the pooled vectors (MiniLM's default:
64 product-quantiser codes of 6 dimensions). Each round times both ways of each stage back to back
and checks that they agree; rows give every round.
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
from evals.datasets import load_beir
from evals.report import markdown_table, write_report
from indexers.scoring.pooling import pool_documents, pool_tokens
from indexers.storage.pq_codes import PQEncoder
from indexers.storage.residual import ResidualCodec, auto_num_centroids, auto_pq_m

__all__ = ["main", "markdown", "measure"]

POOL_FACTOR = 2


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(documents: list[np.ndarray], rounds: int) -> list[dict[str, Any]]:
    """Per round: seconds of both ways of pooling and of PQ coding, and whether their outputs agree."""
    rows: list[dict[str, Any]] = []
    pooled = pool_documents(documents, POOL_FACTOR)
    vectors = np.concatenate([p.vectors for p in pooled])
    pq_m = auto_pq_m(vectors.shape[1])
    codec = ResidualCodec.fit(vectors, auto_num_centroids(len(vectors), pq_m), 4, pq_m=pq_m)
    assert codec.codebooks is not None
    residuals = vectors - codec.centroids[codec.assigner.nearest(vectors)]
    faiss_pq, compiled = PQEncoder(codec.codebooks, compiled=False), PQEncoder(codec.codebooks, compiled=True)
    for round_ in range(rounds):
        serial, serial_s = _timed(lambda: [pool_tokens(d, POOL_FACTOR) for d in documents])
        threaded, threaded_s = _timed(lambda: pool_documents(documents, POOL_FACTOR))
        faiss_codes, faiss_s = _timed(lambda: faiss_pq.encode(residuals))
        our_codes, compiled_s = _timed(lambda: compiled.encode(residuals))
        same_pooling = all(
            np.array_equal(a.vectors, b.vectors) and np.array_equal(a.assignment, b.assignment)
            for a, b in zip(serial, threaded, strict=True)
        )
        rows.append(
            {
                "round": round_,
                "documents": len(documents),
                "vectors": len(residuals),
                "pq_m": pq_m,
                "pool_serial_s": serial_s,
                "pool_threaded_s": threaded_s,
                "pooling_identical": same_pooling,
                "pq_faiss_s": faiss_s,
                "pq_compiled_s": compiled_s,
                "pq_codes_agree": float((faiss_codes == our_codes).mean()),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], notes: list[str]) -> str:
    table = markdown_table(
        (
            "round",
            "pooling: one at a time s",
            "pool_documents s",
            "x",
            "identical",
            "PQ codes: FAISS s",
            "compiled s",
            "x",
            "codes agree",
        ),
        [
            (
                r["round"],
                f"{r['pool_serial_s']:.2f}",
                f"{r['pool_threaded_s']:.2f}",
                f"{r['pool_serial_s'] / r['pool_threaded_s']:.2f}",
                r["pooling_identical"],
                f"{r['pq_faiss_s']:.2f}",
                f"{r['pq_compiled_s']:.2f}",
                f"{r['pq_faiss_s'] / r['pq_compiled_s']:.2f}",
                f"{r['pq_codes_agree']:.6f}",
            )
            for r in rows
        ],
    )
    return table + "\n\n" + "\n\n".join(notes) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.write_stages", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder (its corpus is encoded once)")
    parser.add_argument("--split", default="dev", help="qrels split (only names the cache's query file)")
    parser.add_argument("--docs", type=int, default=1000, help="documents taken from the start of the corpus")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the encoding cache lives")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args(argv)
    if args.docs < 1 or args.rounds < 1:
        parser.error("--docs and --rounds must be at least 1")
    dataset = load_beir(args.data, args.split)
    folder = cache_folder(dataset, args.runs_dir)
    encode_once(dataset, folder)
    store, _ = open_cache(dataset, folder)
    documents = [store.doc_vectors(i) for i in range(min(args.docs, store.num_slots))]
    load_before = os.getloadavg()
    rows = measure(documents, args.rounds)
    command = "python -m benchmarks.write_stages " + " ".join(sys.argv[1:] if argv is None else argv)
    notes = [
        f"{len(documents):,} {dataset.name} documents, {rows[0]['vectors']:,} pooled vectors, "
        f"{rows[0]['pq_m']} PQ codes each; {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.1f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} after. `{command}`",
    ]
    text = "# Write stages: pooling and PQ codes, two ways each\n\n" + markdown(rows, notes)
    print(text)
    if args.out is not None:
        write_report(args.out, text, {"rows": rows, "command": command})
    return 0 if all(r["pooling_identical"] and r["pq_codes_agree"] > 0.999 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
