"""Training CLI for the keep / drop head: distil labels with an LLM, then fit the head.

    python -m indexers.compress.train label --corpus ../shared/data/scifact/corpus.jsonl \
        --out labels.jsonl --limit 200 --max-words 120 --llm qwen2.5-0.5b
    python -m indexers.compress.train fit --labels labels.jsonl --out indexers/compress/heads/minilm-keep.npz

`label` appends one JSON line per text and resumes where an earlier run stopped. `--method
surprisal` (the default) keeps the words the LLM (through transformers) finds least predictable;
`--method extractive` asks the LLM to compress each text and marks a text `rejected` when the reply
is unusable. `fit` writes the head and, next to it, a `.json` record of the data, the LLM and the
held-out scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from indexers.base import Doc
from indexers.compress.distill import (
    LabeledText,
    distill_label,
    fit_head,
    held_out_split,
    surprisal_labels,
    word_surprisal,
)
from indexers.compress.lingua import WordReader
from indexers.compress.words import split_words
from indexers.configs import EncoderConfig
from indexers.corpus import iter_json_lines, read_corpus
from indexers.errors import InvalidInput
from indexers.models.causal_lm import load_causal_lm
from indexers.models.llm import LLMConfig, load_llm
from indexers.storage.versions import atomic_write

__all__ = ["main"]

logger = logging.getLogger(__name__)
PROG = "python -m indexers.compress.train"
SURPRISAL_BATCH = 8  # texts read by the LM at once


def _drawn(corpora: Sequence[Path], limit: int, seed: int) -> list[Doc]:
    """`limit` documents of each corpus, drawn with `seed`."""
    drawn = []
    for path in corpora:
        docs = list(read_corpus(path))
        drawn += [docs[int(i)] for i in np.random.default_rng(seed).permutation(len(docs))[:limit]]
    return drawn


def _label(args: argparse.Namespace) -> int:
    try:
        if args.limit < 1 or args.max_words < 1:
            raise InvalidInput("--limit and --max-words must be at least 1")
        if not 0 < args.keep < 1:
            raise InvalidInput("--keep must be between 0 and 1")
        if args.method == "surprisal" and args.base_url:
            raise InvalidInput(
                "--method surprisal reads the LLM's probabilities in this process; drop --base-url"
            )
        config = LLMConfig.model_validate(
            {
                "backend": "openai" if args.base_url else None,  # None: llamacpp for GGUF models
                "model": args.llm,
                "base_url": args.base_url,
                "timeout_s": args.timeout,
                "context_window": args.context_window,
                "threads": args.llm_threads,
                "parallel": args.concurrency,
            }
        )
        drawn = _drawn(args.corpus, args.limit, args.seed)
        done: set[str] = set()
        if args.out.exists():
            with open(args.out, encoding="utf-8") as handle:
                done = {record["id"] for _, record in iter_json_lines(handle)}
    except (OSError, InvalidInput, ValidationError) as exc:
        print(f"{PROG} label: error: {exc}", file=sys.stderr)
        return 2
    todo = [doc for doc in drawn if doc.id not in done]
    texts = [" ".join(split_words(doc.text)[0][: args.max_words]) for doc in todo]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = skipped = 0
    started = time.perf_counter()
    with open(args.out, "a", encoding="utf-8") as out:
        for number, (doc, sample) in enumerate(zip(todo, _samples(args, config, texts), strict=True), 1):
            record: dict[str, object] = {"id": doc.id, "llm": args.llm, "method": args.method}
            if sample is None:  # recorded, so a resumed run does not ask again
                skipped += 1
                record["rejected"] = True
            else:
                kept += 1
                record |= {"words": sample.words, "keep": sample.keep}
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(
                f"{number}/{len(todo)} doc {doc.id}: {'kept' if sample else 'skipped'} "
                f"({time.perf_counter() - started:.0f}s; {kept} kept, {skipped} skipped)",
                flush=True,
            )
    return 0


def _samples(args: argparse.Namespace, config: LLMConfig, texts: list[str]) -> Iterator[LabeledText | None]:
    """Labels per text, in order, as they are made."""
    if args.method == "surprisal":
        lm = load_causal_lm(args.llm, config.resolved_cache_dir())
        for start in range(0, len(texts), SURPRISAL_BATCH):
            for words, surprisal in word_surprisal(lm, texts[start : start + SURPRISAL_BATCH]):
                yield surprisal_labels(words, surprisal, args.keep) if words else None
        return
    llm = load_llm(config)
    with ThreadPoolExecutor(args.concurrency, thread_name_prefix="label") as pool:
        yield from pool.map(partial(distill_label, llm), texts)


def _fit(args: argparse.Namespace) -> int:
    try:
        with open(args.labels, encoding="utf-8") as handle:
            records = [record for _, record in iter_json_lines(handle) if not record.get("rejected")]
    except (OSError, InvalidInput) as exc:
        print(f"{PROG} fit: error: {exc}", file=sys.stderr)
        return 2
    if not records:
        print(f"no labelled texts in {args.labels}", file=sys.stderr)
        return 2
    if args.inner_seed is not None:  # choosing settings: the held-out texts stay unseen
        records = [records[int(i)] for i in held_out_split(len(records), seed=args.seed)[0]]
    samples = [LabeledText(r["words"], r["keep"]) for r in records]
    reader = WordReader(EncoderConfig(model=args.encoder, batch_size=8))
    seed = args.seed if args.inner_seed is None else args.inner_seed
    head, report = fit_head(reader, samples, epochs=args.epochs, hidden=args.hidden, lr=args.lr, seed=seed)
    head.save(args.out)
    report.update(
        labels=str(args.labels),
        texts=len(samples),
        llms=sorted({r["llm"] for r in records}),
        documents=sorted(r["id"] for r in records),
        encoder=args.encoder,
        epochs=args.epochs,
        seed=args.seed,
        inner_seed=args.inner_seed,
    )
    atomic_write(args.out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "documents"}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    label = commands.add_parser("label", help="distil keep / drop labels from an LLM")
    label.add_argument(
        "--corpus",
        type=Path,
        action="append",
        required=True,
        help="JSONL documents (BEIR layout), repeatable",
    )
    label.add_argument("--out", type=Path, required=True, help="labels JSONL (appended, resumable)")
    label.add_argument("--limit", type=int, default=200, help="documents drawn from each corpus (seeded)")
    label.add_argument("--max-words", type=int, default=120, help="words per document kept for labelling")
    label.add_argument(
        "--method",
        choices=["surprisal", "extractive"],
        default="surprisal",
        help="keep the least predictable words (LLMLingua), or ask the LLM to compress (LLMLingua-2)",
    )
    label.add_argument("--keep", type=float, default=0.5, help="surprisal: fraction of words kept")
    label.add_argument("--llm", default="qwen2.5-0.5b", help="local model alias, .gguf, folder or hub name")
    label.add_argument("--base-url", help="extractive: an OpenAI-compatible endpoint serving --llm instead")
    label.add_argument("--timeout", type=float, default=120.0, help="seconds per LLM call")
    label.add_argument("--context-window", type=int, default=2048)
    label.add_argument(
        "--concurrency", type=int, default=2, help="extractive: texts labelled at once (llama.cpp slots)"
    )
    label.add_argument("--llm-threads", type=int, help="llamacpp: CPU threads (default: cores less one)")
    label.add_argument("--seed", type=int, default=0)
    fit = commands.add_parser("fit", help="fit the keep / drop head on the frozen encoder")
    fit.add_argument("--labels", type=Path, required=True)
    fit.add_argument("--out", type=Path, required=True, help="head .npz (a .json report goes next to it)")
    fit.add_argument("--encoder", default="minilm")
    fit.add_argument("--epochs", type=int, default=50)
    fit.add_argument(
        "--hidden", type=int, default=0, help="units of one ReLU layer before the output (0: linear)"
    )
    fit.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate")
    fit.add_argument("--seed", type=int, default=0, help="the split of held-out texts")
    fit.add_argument(
        "--inner-seed",
        type=int,
        help="to choose settings: fit on the training texts of the --seed split only, holding out "
        "some of them (drawn with this seed) to score on",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _label(args) if args.command == "label" else _fit(args)


if __name__ == "__main__":
    raise SystemExit(main())
