"""Per-question comparison of two LoCoMo result files (`python -m evals.locomo --out/--name`): for each
method, F1 1-4 on the answerable questions both runs answered, and the paired sign-flip test; with
`--methods NEW BASELINE`, one method of the first file against another of the second. With
`--baseline`, every positional file is pooled into the run to judge and the `--baseline` files into
the baseline (results of different conversations, whose question ids differ).

    python -m evals.locomo_compare docs/results/locomo-c26-c30-fast.json docs/results/locomo-c26-c30.json
    python -m evals.locomo_compare docs/results/locomo-full-0.5b.json \
        docs/results/locomo-full-0.5b-context.json --methods memory full
    python -m evals.locomo_compare docs/results/locomo-1.5b-c26.json docs/results/locomo-1.5b-c30.json \
        --baseline docs/results/locomo-1.5b-c26.json docs/results/locomo-1.5b-c30.json --methods memory rag
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from evals.paired import paired_comparison
from indexers.cli_args import parse_args

__all__ = ["compare", "main", "pooled"]


def _f1(result: dict[str, Any], method: str) -> dict[str, float]:
    records = result.get("records", {}).get(method, [])
    return {r["qid"]: r["f1"] for r in records if "f1" in r and r["category"] != 5}


def pooled(paths: list[Path]) -> dict[str, Any]:
    """The records of several result files as one result: each method's records, in file order."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for method, rows in json.loads(path.read_text()).get("records", {}).items():
            records.setdefault(method, []).extend(rows)
    return {"records": records}


def compare(
    new: dict[str, Any], baseline: dict[str, Any], methods: tuple[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """Per method present in both (or the one pair `methods`, new's then baseline's, keyed
    "new vs baseline"): questions in common, mean F1 of each run, the paired comparison."""
    pairs = [methods] if methods else [(method, method) for method in new.get("records", {})]
    out = {}
    for mine, other in pairs:
        ours, theirs = _f1(new, mine), _f1(baseline, other)
        common = sorted(ours.keys() & theirs.keys())
        if not common:
            continue
        out[mine if mine == other else f"{mine} vs {other}"] = {
            "questions": len(common),
            "f1_new": statistics.mean(ours[q] for q in common),
            "f1_baseline": statistics.mean(theirs[q] for q in common),
            **paired_comparison({q: ours[q] for q in common}, {q: theirs[q] for q in common}),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the comparison as Markdown; returns 0, or 2 for bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.locomo_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        help="NEW BASELINE: result JSON of the run to judge, then of the run it is compared with; "
        "with --baseline: the result files pooled into the run to judge",
    )
    parser.add_argument("--baseline", type=Path, nargs="+", help="result files pooled into the baseline")
    parser.add_argument(
        "--methods", nargs=2, metavar=("NEW", "BASELINE"), help="compare these two methods only"
    )
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.baseline is None and len(args.files) != 2:
        print(
            f"{parser.prog}: error: give NEW and BASELINE, or the files to judge and --baseline",
            file=sys.stderr,
        )
        return 2
    new, baseline = (args.files, args.baseline) if args.baseline else (args.files[:1], args.files[1:])
    pair = tuple(args.methods) if args.methods else None
    rows = compare(pooled(new), pooled(baseline), pair)
    print("| method | questions | F1 1-4 new | F1 1-4 baseline | mean diff | better / worse / tied | p |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for method, c in rows.items():
        print(
            f"| {method} | {c['questions']} | {c['f1_new']:.3f} | {c['f1_baseline']:.3f} | "
            f"{c['mean_diff']:+.3f} | {c['wins']} / {c['losses']} / {c['ties']} | {c['p_value']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
