"""Per-question comparison of two LoCoMo result files (`python -m evals.locomo --out/--name`): for each
method, F1 1-4 on the answerable questions both runs answered, and the paired sign-flip test.

    python -m evals.locomo_compare docs/results/locomo-c26-c30-fast.json docs/results/locomo-c26-c30.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from evals.paired import paired_comparison
from indexers.cli_args import parse_args

__all__ = ["compare", "main"]


def _f1(result: dict[str, Any], method: str) -> dict[str, float]:
    records = result.get("records", {}).get(method, [])
    return {r["qid"]: r["f1"] for r in records if "f1" in r and r["category"] != 5}


def compare(new: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per method present in both: questions in common, mean F1 of each run, the paired comparison."""
    out = {}
    for method in new.get("records", {}):
        ours, theirs = _f1(new, method), _f1(baseline, method)
        common = sorted(ours.keys() & theirs.keys())
        if not common:
            continue
        out[method] = {
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
    parser.add_argument("new", type=Path, help="result JSON of the run to judge")
    parser.add_argument("baseline", type=Path, help="result JSON of the run it is compared with")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    rows = compare(json.loads(args.new.read_text()), json.loads(args.baseline.read_text()))
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
