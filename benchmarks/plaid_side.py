"""PyLate's PLAID over given vectors: the peer side of `benchmarks.haystack`.

    .venv-plaid/bin/python -P benchmarks/plaid_side.py --input DIR --index DIR --out result.json [--k 100]
    .venv-plaid/bin/python -P benchmarks/plaid_side.py --warm-up DIR   # compile the C++ kernels once

Runs in the virtualenv `benchmarks.haystack` creates (PyLate, torch; none of this repository's
packages), so it reads plain files. `--input` holds, for the corpus, the documents added later and
the queries (`docs`, `add`, `queries`): `<part>.vectors.f16` (all vectors, raw float16, one
document's rows after another; `meta.json` gives the dimension), `<part>.offsets.npy` (int64, n + 1
row offsets) and `<part>.ids.txt` (one id a line).

It builds PyLate's vendored Stanford PLAID (`use_fast=False`, in this process) and times the build;
searches every query one at a time with ColBERT's settings for k <= 100 (`ncells=2`,
`centroid_score_threshold=0.45`, `ndocs=1024`) after one warm-up query; adds the `add` documents
through PyLate's index updater and times that; writes JSON: seconds, the built index folder's
bytes, each query's latency and ranked ids (the caller measures memory). With `--backend fast` it
uses fast-plaid instead.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

K = 100
RECIPE = {"ncells": 2, "centroid_score_threshold": 0.45, "ndocs": 1024}


def read_part(folder: Path, part: str) -> tuple[list[str], list[np.ndarray]]:
    """A part's ids and its per-document float16 arrays (views of the memory-mapped vectors)."""
    dim = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["dim"]
    vectors = np.memmap(folder / f"{part}.vectors.f16", dtype=np.float16, mode="r").reshape(-1, dim)
    offsets = np.load(folder / f"{part}.offsets.npy")
    ids = (folder / f"{part}.ids.txt").read_text(encoding="utf-8").splitlines()
    return ids, [vectors[offsets[i] : offsets[i + 1]] for i in range(len(ids))]


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def open_plaid(index: Path, dim: int, backend: str) -> Any:
    """An empty PyLate PLAID index in `index` (4-bit residuals, like the default of PyLate's PLAID)."""
    from pylate import indexes

    if backend == "fast":
        return indexes.PLAID(
            index_folder=str(index), index_name="plaid", override=True, use_fast=True, device="cpu"
        )
    plaid = indexes.PLAID(
        index_folder=str(index),
        index_name="plaid",
        override=True,
        use_fast=False,
        nbits=4,
        embedding_size=dim,
        **RECIPE,
    )
    plaid._index.indexer.configure(avoid_fork_if_possible=True)  # index in this process (peak RSS)
    return plaid


def run(folder: Path, index: Path, k: int, backend: str) -> dict[str, Any]:
    """Build, add, search; the measurements."""
    import torch

    ids, docs = read_part(folder, "docs")
    plaid = open_plaid(index, docs[0].shape[1], backend)
    start = time.perf_counter()
    plaid.add_documents(documents_ids=ids, documents_embeddings=docs)
    build_seconds = time.perf_counter() - start
    built_bytes = folder_bytes(index)
    query_ids, queries = read_part(folder, "queries")
    queries32 = [torch.from_numpy(np.asarray(q, dtype=np.float32)) for q in queries]
    plaid(queries32[0][None], k=k)  # warm-up
    ranked: dict[str, list[str]] = {}
    latencies_ms = []
    for query_id, query in zip(query_ids, queries32, strict=True):
        started = time.perf_counter()
        hits = plaid(query[None], k=k)[0]
        latencies_ms.append((time.perf_counter() - started) * 1000)
        ranked[query_id] = [str(hit["id"]) for hit in hits]
    add_ids, add_docs = read_part(folder, "add")
    start = time.perf_counter()
    plaid.add_documents(documents_ids=add_ids, documents_embeddings=add_docs)
    add_seconds = time.perf_counter() - start
    return {
        "backend": "fast-plaid" if backend == "fast" else "stanford-plaid",
        "docs": len(ids),
        "vectors": int(sum(len(d) for d in docs)),
        "build_seconds": build_seconds,
        "index_bytes": built_bytes,
        "add_docs": len(add_ids),
        "add_seconds": add_seconds,
        "latencies_ms": latencies_ms,
        "ranked": ranked,
        "torch_threads": torch.get_num_threads(),
    }


def warm_up(folder: Path, backend: str) -> None:
    """Build and search a tiny random index in `folder` (the Stanford backend's C++ kernels compile
    on first use)."""
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((30, 384)).astype(np.float32) for _ in range(300)]
    docs = [(d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float16) for d in docs]
    plaid = open_plaid(folder, 384, backend)
    plaid.add_documents(documents_ids=[str(i) for i in range(len(docs))], documents_embeddings=docs)
    print(plaid(docs[0][None].astype(np.float32), k=5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="folder of docs / add / queries files")
    parser.add_argument("--index", type=Path, help="where the index is built (emptied first)")
    parser.add_argument("--out", type=Path, help="result JSON")
    parser.add_argument("--k", type=int, default=K, help="hits per query")
    parser.add_argument("--backend", choices=("stanford", "fast"), default="stanford")
    parser.add_argument("--warm-up", type=Path, help="compile the kernels on a tiny index in this folder")
    args = parser.parse_args()
    if args.warm_up is not None:
        warm_up(args.warm_up, args.backend)
        return 0
    if args.input is None or args.index is None or args.out is None:
        parser.error("--input, --index and --out are needed")
    result = run(args.input, args.index, args.k, args.backend)
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
