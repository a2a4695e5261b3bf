"""Fine-tune an MLM encoder with SLIM's objective: in-batch contrastive loss over sparse late interaction
plus FLOPS sparsity regularisation of the token vectors.

For a query and a document, token vectors are `w = log(1 + relu(MLM logits))` (special and padding
tokens zeroed) and the score is `sum_i max_j <q_i, d_j>`. Each query is scored against every document
of its batch (its own positive, its mined lexical hard negatives and the other queries' documents)
with cross-entropy; FLOPS
(`sum_v mean_tokens(w_v)^2`, Paria et al. 2020) over the query and document token vectors pushes
the vectors towards the sparsity the index needs. The whole vocabulary is kept during training; the
index applies `token_top_k` at encoding time.

sentence-transformers' `SpladeLoss` scores max-pooled (single-vector) SPLADE representations, not
late interaction over token vectors, so the objective is written here; the FLOPS term is the same.

    python -m indexers.train.slim --data ../shared/data/scifact --split train --out runs/slim-scifact

writes a Hugging Face folder (model + tokenizer) that `{"kind": "slim", "encoder": {"model": "<out>"}}`
loads. Runs on CPU for small data, on a CUDA device when present (`--device`; the CUDA path is untested).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indexers.base import Doc
from indexers.cli_args import add_field_options, parse_args
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.train.data import TrainingPair, labelled_pairs, mine_hard_negatives

__all__ = ["SlimTrainConfig", "TrainResult", "main", "slim_loss", "train_slim"]

logger = logging.getLogger(__name__)


class SlimTrainConfig(BaseModel):
    """Hyper-parameters of one SLIM fine-tuning run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field("splade-tiny", description="packaged alias, folder or hub name of a masked LM")
    epochs: int = Field(1, ge=1, le=100, description="passes over the training pairs")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    batch_size: int = Field(8, ge=2, le=256, description="pairs per step (in-batch negatives)")
    hard_negatives: int = Field(0, ge=0, le=8, description="mined lexical negatives per query")
    learning_rate: float = Field(5e-5, gt=0, le=1, description="AdamW learning rate")
    query_max_length: int = Field(32, ge=4, le=512, description="query tokens seen in training")
    doc_max_length: int = Field(128, ge=8, le=512, description="document tokens seen in training")
    query_flops: float = Field(5e-4, ge=0, description="weight of the query FLOPS regulariser")
    doc_flops: float = Field(5e-4, ge=0, description="weight of the document FLOPS regulariser")
    seed: int = Field(0, description="seed of the shuffle and the initial state")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class TrainResult(BaseModel):
    """What a run did: steps, losses before and after (on the first batch), time and the output folder."""

    steps: int
    first_loss: float
    last_loss: float
    seconds: float
    output: str


def _token_weights(net: Any, tokenizer: Any, texts: Sequence[str], max_length: int, device: str) -> Any:
    """`(b, L, V)` token vectors `log(1 + relu(logits))`, special and padding tokens zeroed."""
    import torch

    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    special = torch.isin(batch["input_ids"], torch.tensor(tokenizer.all_special_ids, device=device))
    keep = batch["attention_mask"].bool() & ~special
    return torch.log1p(torch.relu(net(**batch).logits)) * keep[..., None]


def slim_loss(queries: Any, docs: Any, query_flops: float, doc_flops: float) -> Any:
    """In-batch contrastive loss over sparse late interaction, plus FLOPS regularisation.

    Args:
        queries: `(b, Lq, V)` query token vectors (non-negative, padding zeroed).
        docs: `(b * g, Ld, V)` document token vectors in groups of `g` per query: document `i * g`
            is query i's positive, the `g - 1` after it its hard negatives.
        query_flops: weight of the query FLOPS term.
        doc_flops: weight of the document FLOPS term.

    Returns:
        The scalar loss tensor.
    """
    import torch

    b, lq, vocab = queries.shape
    n, ld = docs.shape[:2]
    sims = queries.reshape(b * lq, vocab) @ docs.reshape(-1, vocab).T  # (b*Lq, n*Ld)
    scores = sims.reshape(b, lq, n, ld).amax(dim=3).sum(dim=1)  # (b queries, n docs)
    positives = torch.arange(b, device=scores.device) * (n // b)
    ranking = torch.nn.functional.cross_entropy(scores, positives)

    def flops(tokens: Any) -> Any:
        return torch.sum(torch.mean(tokens.reshape(-1, vocab), dim=0) ** 2)

    return ranking + query_flops * flops(queries) + doc_flops * flops(docs)


def train_slim(
    pairs: Sequence[TrainingPair],
    config: SlimTrainConfig,
    output: Path,
    corpus: dict[str, Doc] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune `config.model` on (query, positive document) pairs and save it to `output`; with
    `config.hard_negatives`, each query also meets its best TF-IDF matches in `corpus` that are not
    its positives.

    Raises:
        InvalidInput: fewer pairs than one batch, or hard negatives asked for without a corpus.
        InvalidConfig: the model cannot be loaded.
        UnsupportedOperation: `device="cuda"` without a CUDA device.
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from indexers.models.encoders import resolve_model_path

    if len(pairs) < config.batch_size:
        raise InvalidInput(f"{len(pairs)} training pairs is fewer than one batch of {config.batch_size}")
    if config.hard_negatives and not corpus:
        raise InvalidInput("hard negatives need the corpus to mine them from")
    device = "cuda" if config.device == "auto" and torch.cuda.is_available() else config.device
    if device == "auto":
        device = "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UnsupportedOperation("device 'cuda' was asked for but no CUDA device is available")
    torch.manual_seed(config.seed)
    path = resolve_model_path(config.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        net = AutoModelForMaskedLM.from_pretrained(path).to(device).train()
    except (OSError, ValueError) as exc:
        raise InvalidConfig(f"cannot load model {config.model!r} from {path}: {exc}") from exc
    negatives: list[list[str]] = [[] for _ in pairs]
    if config.hard_negatives and corpus:
        negatives = mine_hard_negatives(list(pairs), corpus, tokenizer, config.hard_negatives)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate)
    rng = random.Random(config.seed)
    per_epoch = len(pairs) // config.batch_size
    total = per_epoch * config.epochs if config.max_steps is None else config.max_steps
    started, step, first, last = time.perf_counter(), 0, float("nan"), float("nan")
    while step < total:
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for start in range(0, per_epoch * config.batch_size, config.batch_size):
            batch = order[start : start + config.batch_size]
            query_texts = [pairs[i].query for i in batch]
            doc_texts = [text for i in batch for text in (pairs[i].positive, *negatives[i])]
            queries = _token_weights(net, tokenizer, query_texts, config.query_max_length, device)
            docs = _token_weights(net, tokenizer, doc_texts, config.doc_max_length, device)
            loss = slim_loss(queries, docs, config.query_flops, config.doc_flops)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            last = float(loss.detach())
            first = last if step == 1 else first
            if progress is not None:
                progress(step, total)
            if step >= total:
                break
    output.mkdir(parents=True, exist_ok=True)
    net.eval().save_pretrained(output)
    tokenizer.save_pretrained(output)
    result = TrainResult(
        steps=step,
        first_loss=first,
        last_loss=last,
        seconds=time.perf_counter() - started,
        output=str(output),
    )
    (output / "tessera_training.json").write_text(
        json.dumps({"config": config.model_dump(), "result": result.model_dump()}, indent=2)
    )
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m indexers.train.slim", description="Fine-tune an MLM encoder with SLIM's objective."
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder: corpus, queries, qrels/")
    parser.add_argument("--split", default="train", help="qrels split holding the training pairs")
    parser.add_argument("--out", type=Path, required=True, help="folder for the fine-tuned model")
    fields = SlimTrainConfig.model_fields
    numbers: dict[str, type] = dict.fromkeys(("learning_rate", "query_flops", "doc_flops"), float)
    for name in ("epochs", "max_steps", "batch_size", "hard_negatives", "query_max_length", "doc_max_length"):
        numbers[name] = int
    add_field_options(parser, fields, {"model": str, **numbers, "seed": int})
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m indexers.train.slim`; returns 0 on success, 2 for bad arguments, data or config."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = SlimTrainConfig(**{name: getattr(args, name) for name in SlimTrainConfig.model_fields})
        pairs, corpus = labelled_pairs(args.data, args.split)

        def report(step: int, total: int) -> None:
            if step % 10 == 0 or step == total:
                logger.info("step %d/%d", step, total)

        result = train_slim(pairs, config, args.out, corpus, progress=report)
    except (InvalidConfig, InvalidInput, UnsupportedOperation, ValidationError) as exc:
        print(f"indexers.train.slim: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(result.model_dump_json(indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
