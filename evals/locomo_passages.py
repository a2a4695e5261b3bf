"""LoCoMo sessions as a JSONL corpus of short passages (texts to label for the compression head).

    python -m evals.locomo_passages --data ../shared/data/locomo/locomo7.json \
        --out runs/locomo-passages.jsonl --max-words 120

Each passage is a run of whole turns of one session, `speaker: text` lines after the session's date
line, cut before the turn that would take it past `--max-words` words (a longer turn stands alone).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from evals.datasets import LocomoSample, read_locomo
from indexers.base import Doc
from indexers.cli_args import parse_args
from indexers.errors import InvalidInput
from indexers.storage.versions import atomic_write

__all__ = ["main", "session_passages"]


def session_passages(sample: LocomoSample, max_words: int) -> Iterator[Doc]:
    """The passages of every session of `sample`, ids `<sample>-s<session>-p<n>`."""
    for session in sample.sessions:
        head = session.date_time or f"session {session.number}"
        stem = f"{sample.sample_id}-s{session.number}-p"
        lines: list[str] = []
        words = 0
        number = 0
        for turn in session.turns:
            line = f"{turn.speaker}: {turn.text}"
            size = len(line.split())
            if lines and words + size > max_words:
                yield Doc(id=f"{stem}{number}", text="\n".join([head, *lines]))
                lines, words, number = [], 0, number + 1
            lines.append(line)
            words += size
        if lines:
            yield Doc(id=f"{stem}{number}", text="\n".join([head, *lines]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.locomo_passages", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo JSON (e.g. locomo7.json)")
    parser.add_argument("--out", type=Path, required=True, help="JSONL corpus written")
    parser.add_argument("--max-words", type=int, default=120, help="words per passage (whole turns)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        if args.max_words < 1:
            raise InvalidInput("--max-words must be at least 1")
        samples = read_locomo(args.data)
    except InvalidInput as exc:  # DatasetError is one
        print(f"python -m evals.locomo_passages: error: {exc}", file=sys.stderr)
        return 2
    docs = [doc for sample in samples for doc in session_passages(sample, args.max_words)]
    atomic_write(args.out, "".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in docs))
    print(f"{len(docs)} passages -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
