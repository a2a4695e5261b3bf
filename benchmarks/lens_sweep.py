"""Sweep LENS settings from one corpus encoding: document length, cluster count, normalisation, and
the weight of a fused dense encoder, scored on several qrels splits of one BEIR-layout dataset.

    python -m benchmarks.lens_sweep --data ../shared/data/scifact --splits train,dev \
        --lengths 256,512 --clusters 1024,4096,16384 [--dense minilm --dense-weights 0.5,1,2] \
        [--runs-dir runs] [--out docs/results/scifact-lens-sweep]

With `aggregate="max"`, a cluster's weight in a LENS vector is the largest weight of its vocabulary
ids in the model's own max-pooled vocabulary vector (`log(1 + relu(.))` is monotone, and the max over
tokens and the max over a cluster commute). So the corpus is encoded once per document length, as
LENS with one cluster per vocabulary id, and every cluster count is derived from that encoding with
the clustering a LENS index computes (`cluster_vocabulary`, same iterations and seed). Encodings are
cached in `<runs-dir>/lens-sweep/` at half precision (so figures can differ from a built index in
the last rounding place); searches are exact inner products over the whole corpus, top 100.

Rows: per length, the full vocabulary by dot product (the model's SPLADE score) and by cosine (LENS
without clustering), then LENS with each cluster count, then, with `--dense`, each cluster count's
vectors fused with the dense unit vectors (`cos(LENS) + w * cos(dense)`, as `LensConfig.dense`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals import report
from evals.beir import SEARCH_K
from evals.datasets import load_beir
from evals.metrics import mean_metric, ndcg_at_k, recall_at_k
from indexers.cli_args import log_progress, parse_args
from indexers.configs import EncoderConfig, LensConfig
from indexers.errors import InvalidConfig, InvalidInput
from indexers.kinds.lens import cluster_vocabulary
from indexers.models.encoders import VocabEncoder, load_token_encoder, load_vocab_encoder

__all__ = ["cluster_max", "main", "sweep"]

logger = logging.getLogger(__name__)

Encode = Callable[[list[str], bool], np.ndarray]


def cluster_max(vocab_vectors: np.ndarray, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """`(n, n_clusters)` largest entry of each row over each cluster's vocabulary ids (0 for a
    cluster without ids), from `(n, vocab_size)` non-negative rows.

    >>> cluster_max(np.array([[1.0, 3.0, 2.0]]), np.array([1, 0, 1]), 3).tolist()
    [[3.0, 2.0, 0.0]]
    """
    order = np.argsort(clusters, kind="stable")
    sorted_clusters = clusters[order]
    present, starts = np.unique(sorted_clusters, return_index=True)
    out = np.zeros((len(vocab_vectors), n_clusters), dtype=np.float32)
    out[:, present] = np.maximum.reduceat(vocab_vectors[:, order], starts, axis=1)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit


def _full_vocabulary(encoder: VocabEncoder) -> Encode:
    """Encode as LENS with one cluster per vocabulary id: the max-pooled `log(1 + relu(logits))`."""
    identity = np.arange(len(encoder.input_embeddings()))

    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        return encoder.encode_clusters(texts, is_query=is_query, clusters=identity, n_clusters=len(identity))

    return encode


def _cached(path: Path, texts: list[str], encode: Encode, is_query: bool) -> np.ndarray:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("encoding %d texts into %s", len(texts), path)
        np.save(path, encode(texts, is_query).astype(np.float16))
    vectors: np.ndarray = np.load(path)
    return vectors.astype(np.float32)


def sweep(
    data: Path,
    splits: Sequence[str],
    lengths: Sequence[int],
    cluster_counts: Sequence[int],
    *,
    model: str = "splade-tiny",
    dense: str | None = None,
    dense_weights: Sequence[float] = (),
    cache: Path,
) -> dict[str, Any]:
    """Score every setting on every split (nDCG@10, Recall@100 over the whole corpus).

    Returns:
        A JSON-ready dict: dataset, splits, number of documents, and `rows` (setting, then per split
        `ndcg_at_10` and `recall_at_100`).

    Raises:
        InvalidConfig, InvalidInput, DatasetError: bad model, cluster count or data.
    """
    datasets = [load_beir(data, split) for split in splits]
    docs = datasets[0].docs
    doc_ids = np.array([d.id for d in docs])
    queries: dict[str, str] = {}
    for dataset in datasets:
        queries.update(dataset.queries)
    query_ids = sorted(queries)
    position = {q: i for i, q in enumerate(query_ids)}
    texts = [d.full_text for d in docs]
    stem = f"{data.resolve().name}-{model.replace('/', '_')}"
    queries_file = f"queries-{'_'.join(splits)}.npy"
    rows: list[dict[str, Any]] = []

    def score(setting: str, query_vectors: np.ndarray, doc_vectors: np.ndarray) -> None:
        row: dict[str, Any] = {"setting": setting}
        for dataset in datasets:
            at = np.array([position[q] for q in dataset.qrels])
            scores = query_vectors[at] @ doc_vectors.T
            top = np.argsort(-scores, axis=1, kind="stable")[:, :SEARCH_K]
            ranked = {q: doc_ids[top[i]].tolist() for i, q in enumerate(dataset.qrels)}
            row[dataset.split] = {
                "ndcg_at_10": mean_metric(ndcg_at_k, ranked, dataset.qrels, 10),
                "recall_at_100": mean_metric(recall_at_k, ranked, dataset.qrels, SEARCH_K),
            }
        logger.info("%s: %s", setting, {s: row[s] for s in splits})
        rows.append(row)

    dense_docs = dense_queries = None
    if dense is not None:
        dense_encoder = load_token_encoder(EncoderConfig(model=dense))

        def encode_dense(batch: list[str], is_query: bool) -> np.ndarray:
            return dense_encoder.encode_dense(batch, is_query=is_query)

        name = f"{data.resolve().name}-{dense.replace('/', '_')}"
        dense_docs = _cached(cache / f"{name}-docs.npy", texts, encode_dense, False)
        dense_queries = _cached(
            cache / f"{name}-{queries_file}", [queries[q] for q in query_ids], encode_dense, True
        )
    base = LensConfig()
    for length in lengths:
        encoder = load_vocab_encoder(EncoderConfig(model=model, doc_max_length=length))

        encode = _full_vocabulary(encoder)
        vocab_queries = _cached(
            cache / f"{stem}-{queries_file}", [queries[q] for q in query_ids], encode, True
        )
        vocab_docs = _cached(cache / f"{stem}-docs{length}.npy", texts, encode, False)
        score(f"{length} tokens, full vocabulary, dot product (SPLADE)", vocab_queries, vocab_docs)
        score(f"{length} tokens, full vocabulary, cosine", _unit(vocab_queries), _unit(vocab_docs))
        for n in cluster_counts:
            clusters, _ = cluster_vocabulary(encoder.input_embeddings(), n, base.kmeans_iterations, base.seed)
            lens_queries = _unit(cluster_max(vocab_queries, clusters, n))
            lens_docs = _unit(cluster_max(vocab_docs, clusters, n))
            score(f"{length} tokens, {n} clusters (LENS)", lens_queries, lens_docs)
            if dense_docs is not None and dense_queries is not None:
                for weight in dense_weights:
                    fused_queries = np.hstack([lens_queries, np.sqrt(weight) * dense_queries])
                    fused_docs = np.hstack([lens_docs, np.sqrt(weight) * dense_docs])
                    score(f"{length} tokens, {n} clusters + {weight:g} x {dense}", fused_queries, fused_docs)
        del vocab_docs
    return {
        "dataset": data.resolve().name,
        "model": model,
        "dense": dense,
        "splits": list(splits),
        "num_docs": len(docs),
        "num_queries": {dataset.split: len(dataset.qrels) for dataset in datasets},
        "rows": rows,
    }


def _markdown(result: dict[str, Any], command: str) -> str:
    splits = result["splits"]
    header = ["setting"] + [f"{s} {m}" for s in splits for m in ("nDCG@10", "Recall@100")]
    rows = [
        [row["setting"]]
        + [report.cell(row[s][m], ".3f") for s in splits for m in ("ndcg_at_10", "recall_at_100")]
        for row in result["rows"]
    ]
    queries = ", ".join(f"{n} ({s})" for s, n in result["num_queries"].items())
    return "\n".join(
        [
            f"# LENS sweep: {result['dataset']}, {result['model']}",
            "",
            f"{result['num_docs']} documents; judged queries: {queries}. Generated "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}`. Exact inner products over the "
            "whole corpus; cluster counts derived from one encoding per document length (see "
            "`benchmarks.lens_sweep`).",
            "",
            report.markdown_table(header, rows),
        ]
    )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lens_sweep", description="Score LENS settings from one corpus encoding."
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout dataset folder")
    parser.add_argument("--splits", default="train,dev", help="comma-separated qrels splits")
    parser.add_argument("--lengths", default="256,512", help="document lengths in tokens")
    parser.add_argument("--clusters", default="1024,2048,4096,8192,16384", help="cluster counts")
    parser.add_argument("--model", default="splade-tiny", help="the MLM")
    parser.add_argument("--dense", help="also fuse each cluster count with this dense encoder, e.g. minilm")
    parser.add_argument("--dense-weights", default="0.5,1,2", help="dense weights tried with --dense")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="encoding cache")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; 0 on success, 2 for bad arguments or data."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    log_progress(logger)
    try:
        result = sweep(
            args.data,
            [s for s in args.splits.split(",") if s],
            _ints(args.lengths),
            _ints(args.clusters),
            model=args.model,
            dense=args.dense,
            dense_weights=[float(w) for w in args.dense_weights.split(",") if w],
            cache=args.runs_dir / "lens-sweep",
        )
    except (InvalidConfig, InvalidInput, ValueError, OSError) as exc:
        print(f"benchmarks.lens_sweep: error: {exc}", file=sys.stderr)
        return 2
    command = "python -m benchmarks.lens_sweep " + " ".join(sys.argv[1:] if argv is None else argv)
    markdown = _markdown(result, command)
    if args.out is not None:
        report.write_report(args.out, markdown, result)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
