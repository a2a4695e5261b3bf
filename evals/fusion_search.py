"""Tune the fusion of several index kinds on one split, report it on another.

Two steps, both `python -m evals.fusion_search`:

    # 1. one build per kind over the whole corpus; the top 100 (id, score) of every query judged in
    #    any of the splits are kept (one file per kind)
    python -m evals.fusion_search collect --data ../shared/data/scifact --splits train,dev \
        --kind bm25 --out runs/fusion/scifact-bm25.json [--set key=value ...] [--label NAME]

    # 2. grid search on --tune, figures on --report, paired test against the best single member
    python -m evals.fusion_search search --data ../shared/data/scifact --tune train --report dev \
        runs/fusion/scifact-*.json [--out docs/results/scifact-fusion]

Fusion methods: weighted reciprocal rank fusion (`indexers.scoring.fusion.rrf`, what hybrid search
runs) over the top `depth` of each kind, and, for comparison, weighted sums of per-query min-max or
z-score normalised scores over the same candidates (a document missing from a kind's list gets that
kind's lowest normalised score). The grid is deliberately coarse (a few weights per kind, a few k and
depths) so that the tuning split cannot be memorised; every candidate is scored on both splits, the
choice is made on the tuning split only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals import report
from evals.beir import SEARCH_K, build_config, config_label
from evals.datasets import load_beir
from evals.metrics import ndcg_at_k, per_query
from evals.paired import paired_comparison
from indexers.cli_args import log_progress, parse_args
from indexers.errors import InvalidConfig, InvalidInput
from indexers.registry import create_index
from indexers.scoring.fusion import SCORE_FUSIONS, normalised_sum, rrf

__all__ = [
    "Candidate",
    "KindRankings",
    "collect",
    "fuse",
    "grid",
    "load_rankings",
    "main",
    "restrict",
    "tune",
]

logger = logging.getLogger(__name__)

Scored = list[tuple[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class KindRankings:
    """One kind's ranked (id, score) lists, query id -> best first."""

    kind: str
    label: str
    rankings: dict[str, Scored]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """One fusion setting: method (`rrf`, `minmax`, `zscore`), weights per kind, RRF k, depth per kind."""

    method: str
    weights: tuple[tuple[str, float], ...]
    k: int
    depth: int

    @property
    def name(self) -> str:
        """A short readable label, e.g. `rrf k=60 d=100 bm25:1 dense:0.5`."""
        parts = " ".join(f"{kind}:{weight:g}" for kind, weight in self.weights)
        k = f" k={self.k}" if self.method == "rrf" else ""
        return f"{self.method}{k} d={self.depth} {parts}"


# --- step 1: rankings ---------------------------------------------------------------------------


def _load_avg() -> float:
    return os.getloadavg()[0]


def collect(
    data: Path, splits: Sequence[str], kind: str, overrides: Sequence[str] = (), label: str | None = None
) -> dict[str, Any]:
    """Build one index of `kind` over the whole corpus and search every query judged in any of
    `splits` (batches of 16) for `SEARCH_K` hits.

    Returns:
        A JSON-ready dict: kind, label, config, dataset, splits, documents, build and search seconds,
        load averages, and `rankings` (query id -> [[doc id, score], ...], best first).

    Raises:
        InvalidConfig, InvalidInput, DatasetError: bad config or data.
    """
    config = build_config(kind, None, overrides)
    datasets = [load_beir(data, split) for split in splits]
    queries: dict[str, str] = {}
    for dataset in datasets:
        queries.update(dataset.queries)
    index = create_index(config)
    load_before = _load_avg()
    started = time.perf_counter()
    index.build(datasets[0].docs)
    build_s = time.perf_counter() - started
    load_after_build = _load_avg()
    logger.info("built %s over %d documents in %.1f s", kind, index.num_docs, build_s)
    ids = list(queries)
    rankings: dict[str, list[list[Any]]] = {}
    started = time.perf_counter()
    for start in range(0, len(ids), 16):
        batch = ids[start : start + 16]
        for query_id, hits in zip(batch, index.search([queries[q] for q in batch], k=SEARCH_K), strict=True):
            rankings[query_id] = [[hit.doc_id, float(hit.score)] for hit in hits]
    search_s = time.perf_counter() - started
    return {
        "kind": kind,
        "label": label or config_label(config),
        "config": config.model_dump(mode="json"),
        "dataset": datasets[0].name,
        "splits": list(splits),
        "num_docs": index.num_docs,
        "num_queries": len(ids),
        "build_s": build_s,
        "search_s": search_s,
        "load_1min": {"before": load_before, "after_build": load_after_build, "after_search": _load_avg()},
        "created_at": datetime.now(UTC).isoformat(),
        "rankings": rankings,
    }


def load_rankings(path: Path) -> KindRankings:
    """Read a file written by `collect`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rankings = {q: [(str(d), float(s)) for d, s in hits] for q, hits in data["rankings"].items()}
    meta = {key: value for key, value in data.items() if key != "rankings"}
    return KindRankings(data["kind"], data.get("label", data["kind"]), rankings, meta)


# --- step 2: fusion -----------------------------------------------------------------------------


def _normalised(hits: Scored, method: str) -> tuple[dict[str, float], float]:
    """Per-query normalised scores, and the value for a document the list lacks (its lowest): the
    arithmetic of `indexers.scoring.fusion.normalised_sum`, in numpy, for the grid."""
    if not hits:
        return {}, 0.0
    scores = np.array([score for _, score in hits], dtype=np.float64)
    if method == "minmax":
        low, span = scores.min(), scores.max() - scores.min()
        values = (scores - low) / span if span > 0 else np.ones_like(scores)
    else:  # zscore
        std = scores.std()
        values = (scores - scores.mean()) / std if std > 0 else np.zeros_like(scores)
    return {doc: float(v) for (doc, _), v in zip(hits, values, strict=True)}, float(values.min())


def fuse(per_kind: Mapping[str, Scored], candidate: Candidate) -> list[str]:
    """One query's fused ranking (ids, best first) under `candidate`; kinds with weight 0 are left out."""
    weights = {kind: w for kind, w in candidate.weights if w > 0 and kind in per_kind}
    cut = {kind: per_kind[kind][: candidate.depth] for kind in weights}
    if candidate.method == "rrf":
        return [doc for doc, _ in rrf({k: [d for d, _ in h] for k, h in cut.items()}, weights, candidate.k)]
    if candidate.method not in SCORE_FUSIONS:
        raise ValueError(f"unknown fusion method {candidate.method!r}")
    return [doc for doc, _ in normalised_sum(cut, weights, candidate.method)]  # type: ignore[arg-type]


def grid(
    kinds: Sequence[str],
    weights: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    ks: Sequence[int] = (10, 30, 60, 100),
    depths: Sequence[int] = (20, 50, 100),
    methods: Sequence[str] = ("rrf", "minmax", "zscore"),
) -> list[Candidate]:
    """Every combination: a weight per kind (at least two kinds above 0; of weight vectors that are
    multiples of one another only one is kept, the one whose largest weight is nearest 1), for RRF
    each k, for every method each depth."""
    chosen: dict[tuple[float, ...], tuple[float, ...]] = {}
    for vector in itertools.product(weights, repeat=len(kinds)):
        if sum(w > 0 for w in vector) < 2:
            continue
        top = max(vector)
        key = tuple(round(w / top, 6) for w in vector)
        if key not in chosen or abs(top - 1) < abs(max(chosen[key]) - 1):
            chosen[key] = vector  # of scaled repeats, keep the one whose largest weight is nearest 1
    vectors = list(chosen.values())
    candidates = []
    for method in methods:
        for vector in vectors:
            named = tuple(zip(kinds, vector, strict=True))
            for depth in depths:
                for k in ks if method == "rrf" else (0,):
                    candidates.append(Candidate(method, named, k, depth))
    return candidates


def _contributions(hits: Scored, method: str, k: int) -> tuple[dict[str, float], float]:
    """One kind's per-document fusion term for one query (before its weight), and the term of a
    document its list lacks."""
    if method == "rrf":
        return {doc: 1.0 / (k + rank) for rank, (doc, _) in enumerate(hits, start=1)}, 0.0
    return _normalised(hits, method)


def _fast_means(
    by_kind: Mapping[str, KindRankings], qrels: Qrels, candidates: Sequence[Candidate]
) -> dict[Candidate, float]:
    """Mean nDCG@10 (linear gains, as trec_eval) of every candidate, all weight vectors of one
    (method, k, depth) at once as a matrix product per query. Used to rank the grid; a kind of
    weight 0 still adds its documents to the pool (at the bottom), so a figure can differ from
    `fuse` in the rare query with fewer than 10 scored documents; reported figures use `fuse`."""
    kinds = list(by_kind)
    groups: dict[tuple[str, int, int], list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault((candidate.method, candidate.k, candidate.depth), []).append(candidate)
    discounts = 1.0 / np.log2(np.arange(2, 12))
    means: dict[Candidate, float] = {}
    for (method, k, depth), group in groups.items():
        weights = np.array([[dict(c.weights).get(kind, 0.0) for kind in kinds] for c in group])
        total = np.zeros(len(group))
        for query_id, judged in qrels.items():
            terms = [
                _contributions(by_kind[kind].rankings.get(query_id, [])[:depth], method, k) for kind in kinds
            ]
            pool = sorted({doc for found, _ in terms for doc in found})
            ideal = sorted((r for r in judged.values() if r > 0), reverse=True)[:10]
            if not pool or not ideal:
                continue
            matrix = np.array([[found.get(doc, missing) for doc in pool] for found, missing in terms])
            fused = weights @ matrix  # candidates x pool, pool in id order
            top = np.argsort(-fused, axis=1, kind="stable")[:, :10]
            gains = np.array([float(max(judged.get(doc, 0), 0)) for doc in pool])[top]
            dcg = (gains * discounts[: gains.shape[1]]).sum(axis=1)
            total += dcg / float(np.dot(ideal, discounts[: len(ideal)]))
        for candidate, value in zip(group, total / len(qrels), strict=True):
            means[candidate] = float(value)
    return means


def _ndcg(rankings: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    return per_query(ndcg_at_k, dict(rankings), qrels, 10)


def restrict(candidate: Candidate, kinds: Sequence[str]) -> Candidate:
    """`candidate` over `kinds` only (the weights it gives them; 1.0 each if they are all 0), as
    hybrid search applies default weights to a collection with those kinds."""
    weights = tuple((kind, w) for kind, w in candidate.weights if kind in kinds)
    if not any(w > 0 for _, w in weights):
        weights = tuple((kind, 1.0) for kind, _ in weights)
    return Candidate(candidate.method, weights, candidate.k, candidate.depth)


def _subsets(kinds: Sequence[str]) -> list[tuple[str, ...]]:
    return [s for size in range(2, len(kinds) + 1) for s in itertools.combinations(kinds, size)]


def _worst_subset_gains(
    by_kind: Mapping[str, KindRankings],
    qrels: Qrels,
    candidates: Sequence[Candidate],
    member_means: Mapping[str, float],
) -> dict[Candidate, float]:
    """Per candidate: the smallest, over every subset of two or more kinds, of the candidate's
    nDCG@10 restricted to the subset minus the subset's best member's."""
    worst = dict.fromkeys(candidates, float("inf"))
    for subset in _subsets(list(by_kind)):
        restricted = {c: restrict(c, subset) for c in candidates}
        means = _fast_means({k: by_kind[k] for k in subset}, qrels, list(dict.fromkeys(restricted.values())))
        best = max(member_means[k] for k in subset)
        for candidate, sub in restricted.items():
            worst[candidate] = min(worst[candidate], means[sub] - best)
    return worst


def tune(
    members: Sequence[KindRankings],
    tune_qrels: Qrels,
    report_qrels: Qrels,
    candidates: Iterable[Candidate],
    *,
    top: int = 15,
    objective: str = "all",
) -> dict[str, Any]:
    """Score every candidate on both splits; rank them on the tuning split.

    With `objective="all"` candidates are ranked by their tuning nDCG@10 over every kind; with
    `objective="subsets"` by their worst gain over the best member of any subset of two or more
    kinds (`restrict`: what default weights do for a collection with only some of the kinds),
    then by their nDCG@10 over every kind.

    Returns:
        `members`: each kind's nDCG@10 on both splits; `best_member`: the kind with the best
        tuning-split nDCG@10; `candidates`: the `top` candidates by tuning nDCG@10 (then the best
        of each method and the reference, equal-weight RRF k=60 depth 100 over every kind), each
        with both splits' nDCG@10 and the paired test against the best member on the report split;
        `chosen`: the first of them; `subsets`: the chosen fusion over every subset of two or more
        kinds (the weights of those kinds; equal weights if all are 0) against the subset's best
        member on each split.
    """
    by_kind = {m.kind: m for m in members}
    kinds = list(by_kind)

    def fused(candidate: Candidate, qrels: Qrels) -> dict[str, float]:
        used = [kind for kind, _ in candidate.weights]
        ranked = {q: fuse({k: by_kind[k].rankings.get(q, []) for k in used}, candidate) for q in qrels}
        return _ndcg(ranked, qrels)

    member_rows = {}
    member_scores: dict[str, dict[str, dict[str, float]]] = {}
    for kind, m in by_kind.items():
        scores = {
            split: _ndcg({q: [d for d, _ in m.rankings.get(q, [])] for q in qrels}, qrels)
            for split, qrels in (("tune", tune_qrels), ("report", report_qrels))
        }
        member_scores[kind] = scores
        member_rows[kind] = {split: float(np.mean(list(s.values()))) for split, s in scores.items()}
    best = max(kinds, key=lambda kind: member_rows[kind]["tune"])

    candidates = list(candidates)
    means = _fast_means(by_kind, tune_qrels, candidates)
    worst: dict[Candidate, float] = {}
    if objective == "subsets":
        tune_means = {kind: row["tune"] for kind, row in member_rows.items()}
        worst = _worst_subset_gains(by_kind, tune_qrels, candidates, tune_means)
        scored = sorted(
            ((worst[c], c) for c in candidates), key=lambda pair: (-pair[0], -means[pair[1]], pair[1].name)
        )
    elif objective == "all":
        scored = sorted(((means[c], c) for c in candidates), key=lambda pair: (-pair[0], pair[1].name))
    else:
        raise ValueError(f"unknown objective {objective!r}: all or subsets")
    logger.info("scored %d candidates on the tuning split", len(scored))

    if objective == "all":  # the best by the exact fusion among the fast ranking's leaders
        leaders = [c for _, c in scored[: max(top, 1) * 2]]
        exact = {c: float(np.mean(list(fused(c, tune_qrels).values()))) for c in leaders}
        shown = sorted(leaders, key=lambda c: (-exact[c], c.name))[:top]
    else:
        shown = [c for _, c in scored[:top]]
    # then each method's best
    for method in dict.fromkeys(c.method for _, c in scored):
        best_of = next(c for _, c in scored if c.method == method)
        if best_of not in shown:
            shown.append(best_of)
    reference = Candidate("rrf", tuple((k, 1.0) for k in kinds), 60, 100)
    if reference not in shown:
        shown.append(reference)
    if objective == "all":
        tune_means = {kind: row["tune"] for kind, row in member_rows.items()}
        worst = _worst_subset_gains(by_kind, tune_qrels, shown, tune_means)
    rows = []
    for candidate in shown:
        tune_scores, report_scores = fused(candidate, tune_qrels), fused(candidate, report_qrels)
        rows.append(
            {
                "name": candidate.name,
                "method": candidate.method,
                "weights": dict(candidate.weights),
                "rrf_k": candidate.k,
                "depth": candidate.depth,
                "tune_ndcg_at_10": float(np.mean(list(tune_scores.values()))),
                "report_ndcg_at_10": float(np.mean(list(report_scores.values()))),
                "tune_vs_best": paired_comparison(tune_scores, member_scores[best]["tune"]),
                "report_vs_best": paired_comparison(report_scores, member_scores[best]["report"]),
                "reference": candidate == reference,
                "tune_worst_subset_gain": worst.get(candidate),
            }
        )
    chosen = shown[0]
    subsets = []
    for subset in _subsets(kinds):
        restricted = restrict(chosen, subset)
        row: dict[str, Any] = {"kinds": list(subset), "weights": dict(restricted.weights)}
        row["reference_report_ndcg_at_10"] = float(
            np.mean(list(fused(restrict(reference, subset), report_qrels).values()))
        )
        for split, qrels in (("tune", tune_qrels), ("report", report_qrels)):
            subset_scores = fused(restricted, qrels)
            top_kind = max(subset, key=lambda kind: member_rows[kind][split])
            row[f"{split}_ndcg_at_10"] = float(np.mean(list(subset_scores.values())))
            row[f"{split}_best_member"] = top_kind
            row[f"{split}_vs_best"] = paired_comparison(subset_scores, member_scores[top_kind][split])
        subsets.append(row)
    return {
        "objective": objective,
        "members": member_rows,
        "best_member": best,
        "num_candidates": len(scored),
        "candidates": rows,
        "chosen": rows[0],
        "subsets": subsets,
    }


# --- command line -------------------------------------------------------------------------------


def _markdown(result: dict[str, Any], tune_split: str, report_split: str, command: str) -> str:
    members = [
        [kind, report.cell(row["tune"], ".3f"), report.cell(row["report"], ".3f")]
        for kind, row in result["members"].items()
    ]
    best = result["best_member"]
    rows = [
        [
            row["name"] + (" (reference)" if row["reference"] else ""),
            report.cell(row["tune_worst_subset_gain"], "+.3f"),
            report.cell(row["tune_ndcg_at_10"], ".3f"),
            report.cell(row["report_ndcg_at_10"], ".3f"),
            report.cell(row["report_vs_best"]["mean_diff"], "+.3f"),
            f"{row['report_vs_best']['wins']} / {row['report_vs_best']['losses']} / "
            f"{row['report_vs_best']['ties']}",
            report.cell(row["report_vs_best"]["p_value"], ".4f"),
        ]
        for row in result["candidates"]
    ]
    subsets = [
        [
            " + ".join(row["kinds"]),
            " ".join(f"{kind}:{w:g}" for kind, w in row["weights"].items()),
            report.cell(row["tune_ndcg_at_10"], ".3f"),
            report.cell(row["report_ndcg_at_10"], ".3f"),
            row["report_best_member"],
            report.cell(row["report_vs_best"]["mean_diff"], "+.3f"),
            report.cell(row["report_vs_best"]["p_value"], ".4f"),
            report.cell(row["reference_report_ndcg_at_10"], ".3f"),
        ]
        for row in result["subsets"]
    ]
    return "\n".join(
        [
            f"# Fusion search: tuned on {tune_split}, reported on {report_split}",
            "",
            f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}`; "
            f"{result['num_candidates']} candidates scored on {tune_split}; the leaders, then each method's "
            f"best and the reference, shown with their {report_split} figures.",
            "",
            report.markdown_table(("kind", f"{tune_split} nDCG@10", f"{report_split} nDCG@10"), members),
            "",
            f"Ranked by {'the worst subset gain' if result['objective'] == 'subsets' else 'nDCG@10'} on "
            f"{tune_split}. Worst subset gain: over every subset of two or more kinds (the fusion's "
            f"weights of those kinds), the smallest nDCG@10 difference from the subset's best member, "
            f"on {tune_split}.",
            "",
            f"Best single member on {tune_split}: {best}. Paired columns compare each fusion with it on "
            f"{report_split}, query by query (sign-flip randomization, 10,000 rounds).",
            "",
            report.markdown_table(
                (
                    "fusion",
                    f"{tune_split} worst subset gain",
                    f"{tune_split} nDCG@10",
                    f"{report_split} nDCG@10",
                    f"vs {best}",
                    "wins / losses / ties",
                    "p",
                ),
                rows,
            ),
            "",
            f"The chosen fusion ({result['chosen']['name']}) over every subset of the kinds, against the "
            f"subset's best member on {report_split} (paired, as above), and the reference (rrf k=60, "
            f"depth 100, equal weights) over the same kinds:",
            "",
            report.markdown_table(
                (
                    "kinds",
                    "weights",
                    f"{tune_split} nDCG@10",
                    f"{report_split} nDCG@10",
                    f"best member ({report_split})",
                    "difference",
                    "p",
                    f"reference ({report_split})",
                ),
                subsets,
                text_columns=2,
            ),
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.fusion_search", description="Collect per-kind rankings; tune their fusion."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="build one kind over the corpus and keep every judged query's top 100")
    c.add_argument(
        "--data", type=Path, required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/"
    )
    c.add_argument("--splits", required=True, help="comma-separated qrels splits, e.g. train,dev")
    c.add_argument("--kind", required=True)
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--label")
    c.add_argument("--out", type=Path, required=True, help="JSON file to write")
    s = sub.add_parser("search", help="grid-search fusions on one split, report them on another")
    s.add_argument("rankings", type=Path, nargs="+", help="files written by `collect`, one per kind")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--tune", default="train", help="split the choice is made on")
    s.add_argument("--report", default="dev", help="split the figures are reported on")
    s.add_argument("--weights", default="0,0.5,1,2", help="per-kind weights tried")
    s.add_argument("--rrf-k", default="10,30,60,100", help="RRF constants tried")
    s.add_argument("--depths", default="20,50,100", help="candidates per kind tried")
    s.add_argument("--methods", default="rrf,minmax,zscore")
    s.add_argument("--top", type=int, default=15, help="candidates shown")
    s.add_argument(
        "--objective",
        choices=("all", "subsets"),
        default="all",
        help="rank by nDCG@10 over every kind (all), or by the worst gain over the best member of any "
        "subset of two or more kinds, then nDCG@10 (subsets)",
    )
    s.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    return parser


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run `python -m evals.fusion_search`; returns the exit code (2 for bad arguments or data)."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    log_progress(logger)
    try:
        if args.command == "collect":
            data = collect(args.data, args.splits.split(","), args.kind, args.overrides, args.label)
            path = report.write_json(args.out, data)
            print(f"wrote {path} ({data['num_queries']} queries, build {data['build_s']:.0f} s)")
            return 0
        members = [load_rankings(path) for path in args.rankings]
        kinds = [m.kind for m in members]
        if len(set(kinds)) != len(kinds):
            raise InvalidInput(f"two ranking files of one kind: {kinds}")
        tune_qrels = load_beir(args.data, args.tune).qrels
        report_qrels = load_beir(args.data, args.report).qrels
        candidates = grid(
            kinds,
            _floats(args.weights),
            [int(x) for x in _floats(args.rrf_k)],
            [int(x) for x in _floats(args.depths)],
            [m for m in args.methods.split(",") if m],
        )
        result = tune(members, tune_qrels, report_qrels, candidates, top=args.top, objective=args.objective)
    except (InvalidConfig, InvalidInput, ValueError, OSError) as exc:
        print(f"evals.fusion_search: error: {exc}", file=sys.stderr)
        return 2
    command = "python -m evals.fusion_search " + " ".join(sys.argv[1:] if argv is None else argv)
    markdown = _markdown(result, args.tune, args.report, command)
    if args.out is not None:
        report.write_report(args.out, markdown, {"tune": args.tune, "report": args.report, **result})
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
