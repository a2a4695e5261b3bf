"""Fine-tune an MLM encoder with SLIM's objective: in-batch contrastive loss over sparse late interaction
plus FLOPS sparsity regularisation of the token vectors.

For a query and a document, token vectors are `w = log(1 + relu(MLM logits))` (special and padding
tokens zeroed) and the score is `sum_i max_j <q_i, d_j>`. Each query is scored against every document
of its batch (its own positive plus the others' as negatives) with cross-entropy; FLOPS
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

from indexers.cli_args import parse_args
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.train.data import labelled_pairs

__all__ = ["SlimTrainConfig", "TrainResult", "main", "read_pairs", "slim_loss", "train_slim"]

logger = logging.getLogger(__name__)


class SlimTrainConfig(BaseModel):
    """Hyper-parameters of one SLIM fine-tuning run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field("splade-tiny", description="packaged alias, folder or hub name of a masked LM")
    epochs: int = Field(1, ge=1, le=100)
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    batch_size: int = Field(8, ge=2, le=256, description="pairs per step (in-batch negatives)")
    learning_rate: float = Field(5e-5, gt=0, le=1)
    query_max_length: int = Field(32, ge=4, le=512)
    doc_max_length: int = Field(128, ge=8, le=512)
    query_flops: float = Field(5e-4, ge=0, description="weight of the query FLOPS regulariser")
    doc_flops: float = Field(5e-4, ge=0, description="weight of the document FLOPS regulariser")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"


class TrainResult(BaseModel):
    """What a run did: steps, losses before and after (on the first batch), time and the output folder."""

    steps: int
    first_loss: float
    last_loss: float
    seconds: float
    output: str


def read_pairs(folder: Path, split: str) -> list[tuple[str, str]]:
    """(query text, document text) pairs from a BEIR-layout folder's `qrels/{split}.tsv` (positive rows).

    Raises:
        InvalidInput: a file is missing or malformed, a row names an unknown query or document, or
            the split has no positive pair (the file and line are named).
    """
    pairs, _ = labelled_pairs(folder, split)
    return [(pair.query, pair.positive) for pair in pairs]


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
        docs: `(b, Ld, V)` document token vectors; document i is query i's positive.
        query_flops: weight of the query FLOPS term.
        doc_flops: weight of the document FLOPS term.

    Returns:
        The scalar loss tensor.
    """
    import torch

    b, lq, vocab = queries.shape
    ld = docs.shape[1]
    sims = queries.reshape(b * lq, vocab) @ docs.reshape(-1, vocab).T  # (b*Lq, b*Ld)
    scores = sims.reshape(b, lq, b, ld).amax(dim=3).sum(dim=1)  # (b queries, b docs)
    ranking = torch.nn.functional.cross_entropy(scores, torch.arange(b, device=scores.device))

    def flops(tokens: Any) -> Any:
        return torch.sum(torch.mean(tokens.reshape(-1, vocab), dim=0) ** 2)

    return ranking + query_flops * flops(queries) + doc_flops * flops(docs)


def train_slim(
    pairs: Sequence[tuple[str, str]],
    config: SlimTrainConfig,
    output: Path,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune `config.model` on (query, positive document) pairs and save it to `output`.

    Raises:
        InvalidInput: fewer pairs than one batch.
        InvalidConfig: the model cannot be loaded.
        UnsupportedOperation: `device="cuda"` without a CUDA device.
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from indexers.models.encoders import resolve_model_path

    if len(pairs) < config.batch_size:
        raise InvalidInput(f"{len(pairs)} training pairs is fewer than one batch of {config.batch_size}")
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
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate)
    rng = random.Random(config.seed)
    per_epoch = len(pairs) // config.batch_size
    total = per_epoch * config.epochs if config.max_steps is None else config.max_steps
    started, step, first, last = time.perf_counter(), 0, float("nan"), float("nan")
    while step < total:
        order = list(pairs)
        rng.shuffle(order)
        for start in range(0, per_epoch * config.batch_size, config.batch_size):
            batch = order[start : start + config.batch_size]
            queries = _token_weights(net, tokenizer, [q for q, _ in batch], config.query_max_length, device)
            docs = _token_weights(net, tokenizer, [d for _, d in batch], config.doc_max_length, device)
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
    parser.add_argument("--model", default="splade-tiny", help="masked LM to start from")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per step (in-batch negatives)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--query-flops", type=float, default=5e-4, help="query FLOPS weight")
    parser.add_argument("--doc-flops", type=float, default=5e-4, help="document FLOPS weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m indexers.train.slim`; returns 0 on success, 2 for bad arguments, data or config."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fields = ("model", "epochs", "max_steps", "batch_size", "learning_rate", "query_flops", "doc_flops")
    try:
        config = SlimTrainConfig(**{f: getattr(args, f) for f in (*fields, "seed", "device")})
        pairs = read_pairs(args.data, args.split)

        def report(step: int, total: int) -> None:
            if step % 10 == 0 or step == total:
                logger.info("step %d/%d", step, total)

        result = train_slim(pairs, config, args.out, progress=report)
    except (InvalidConfig, InvalidInput, UnsupportedOperation, ValidationError) as exc:
        print(f"indexers.train.slim: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(result.model_dump_json(indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
