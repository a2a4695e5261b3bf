"""Fine-tune the causal LM of a `genre` index on (query -> name) pairs, e.g. pseudo-queries from a corpus.

    python -m indexers.train.genre --corpus ../shared/data/scifact/corpus.jsonl --out runs/genre-scifact \
        [--model smollm2-135m] [--sentence last] [--limit 2000] [--max-steps 300] [--batch-size 8] \
        [--save-every 50] [--max-minutes 20]

The pairs go through the same prompt and name tokenisation as `GenreIndex`, and the loss covers the
name tokens and the end token only. The output folder (model and tokenizer, written atomically) is a
valid `model` setting of a genre index. Runs on the GPU when there is one (`--device auto`).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from indexers.base import Doc
from indexers.cli_args import parse_args
from indexers.configs import GenreConfig
from indexers.corpus import read_documents
from indexers.errors import InvalidInput
from indexers.kinds.genre import GenrePrompt, doc_names
from indexers.models.causal_lm import CausalLM, default_cache_dir, resolve_lm_folder
from indexers.models.encoders import device_for

__all__ = ["TrainResult", "finetune", "main", "pseudo_queries", "sentences"]

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def sentences(text: str) -> list[str]:
    """Split text into sentences at `.`, `!` or `?` followed by space and a capital, digit or `(`.

    >>> sentences("A b. C d? e f. (G) h")
    ['A b.', 'C d? e f.', '(G) h']
    """
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def pseudo_queries(
    docs: Iterable[Doc], config: GenreConfig, sentence: Literal["first", "last"] = "first"
) -> list[tuple[str, str]]:
    """(query, name) pairs: one sentence of each document's text as the query, its primary name as target.

    Documents whose text has no sentence besides the name itself are skipped.
    """
    pairs = []
    for doc in docs:
        parts = sentences(doc.text)
        if not parts:
            continue
        query = parts[0] if sentence == "first" else parts[-1]
        name = doc_names(doc, config)[0]
        if query != name:
            pairs.append((query, name))
    return pairs


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a fine-tuning run did: optimiser steps, pairs seen, mean loss of the last 20 steps, time."""

    folder: Path
    steps: int
    pairs: int
    final_loss: float
    seconds: float


def _load(config: GenreConfig, device: str) -> CausalLM:
    """A fresh, trainable copy of the model (not the per-process cached one used for search)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    folder = resolve_lm_folder(config.model, cache)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(folder)
    model = model.to(device)
    window = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    return CausalLM(name=config.model, tokenizer=tokenizer, model=model, context_window=window)


def _examples(
    lm: CausalLM, config: GenreConfig, pairs: Sequence[tuple[str, str]]
) -> list[tuple[list[int], int]]:
    """Per pair: prompt + name + end token ids, and the prompt length (positions before it get no loss)."""
    prompt = GenrePrompt.for_model(lm, config)
    names = prompt.name_ids(lm.tokenizer, [name for _, name in pairs], config.max_name_tokens)
    out = []
    for (query, name), name_ids in zip(pairs, names, strict=True):
        if not name_ids:
            raise InvalidInput(f"name {name!r} tokenises to nothing")
        ids = prompt.ids(lm.tokenizer, query)
        out.append(([*ids, *name_ids, lm.tokenizer.eos_token_id], len(ids)))
    return out


def finetune(
    pairs: Sequence[tuple[str, str]],
    config: GenreConfig,
    out: Path,
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 8,
    lr: float = 5e-5,
    seed: int = 0,
    save_every: int | None = None,
    max_seconds: float | None = None,
) -> TrainResult:
    """Fine-tune `config.model` on `pairs` (query, name) and save it to `out` (replaced atomically),
    also every `save_every` steps, so a stopped run leaves its last checkpoint. Training ends after
    `max_steps` (or `epochs`), or at the first step that ends past `max_seconds`.

    Raises:
        InvalidInput: no pairs, or a name that tokenises to nothing.
    """
    import torch

    if not pairs:
        raise InvalidInput("no training pairs")
    torch.manual_seed(seed)
    lm = _load(config, device_for(config.device))
    examples = _examples(lm, config, pairs)
    model = lm.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    order = list(range(len(examples)))
    rng = random.Random(seed)
    steps, losses, started = 0, [], time.perf_counter()
    total = max_steps or epochs * -(-len(examples) // batch_size)
    while steps < total:
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[start : start + batch_size]]
            ids, mask, labels = _pad(batch, lm.tokenizer.pad_token_id, model.device)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            losses.append(loss.item())
            if steps % 10 == 0:
                logger.info(
                    "step %d/%d loss %.4f, %.1f s/step",
                    steps,
                    total,
                    sum(losses[-10:]) / len(losses[-10:]),
                    (time.perf_counter() - started) / steps,
                )
            if max_seconds is not None and time.perf_counter() - started >= max_seconds:
                total = steps  # out of time: this step is the last
            if save_every and steps % save_every == 0 and steps < total:
                _save(lm, out)
                logger.info("checkpoint at step %d saved to %s", steps, out)
            if steps >= total:
                break
    model.eval()
    _save(lm, out)
    tail = losses[-20:]
    return TrainResult(out, steps, len(pairs), sum(tail) / len(tail), time.perf_counter() - started)


def _pad(batch: list[tuple[list[int], int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Right-padded ids, attention mask and labels (-100 on the prompt and the padding), `(b, L)`."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (seq, prompt_len) in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, prompt_len : len(seq)] = torch.tensor(seq[prompt_len:])
    return ids.to(device), mask.to(device), labels.to(device)


def _save(lm: CausalLM, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        lm.model.save_pretrained(staging)
        lm.tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m indexers.train.genre", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--corpus", type=Path, required=True, help="documents as JSONL (BEIR layout)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the fine-tuned model")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--sentence", choices=["first", "last"], default="last", help="pseudo-query sentence")
    parser.add_argument("--limit", type=int, default=None, help="use the first N documents")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=None, help="also save every N steps (checkpoints)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = GenreConfig(model=args.model, cache_dir=args.cache_dir, device=args.device)
    try:
        docs = read_documents(args.corpus, limit=args.limit)
    except (OSError, InvalidInput) as exc:
        print(f"indexers.train.genre: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    pairs = pseudo_queries(docs.values(), config, args.sentence)
    result = finetune(
        pairs,
        config,
        args.out,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        save_every=args.save_every,
        max_seconds=None if args.max_minutes is None else args.max_minutes * 60,
    )
    logger.info(
        "saved %s: %d steps over %d pairs, final loss %.4f, %.1f s",
        result.folder,
        result.steps,
        result.pairs,
        result.final_loss,
        result.seconds,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
