"""Fine-tune a token encoder with the XTR objective (Lee et al. 2023, "Rethinking the role of token
retrieval in multi-vector retrieval").

Each step encodes a batch of queries and their documents (positives, plus optional mined hard
negatives); every query token retrieves its `top_k` most similar document tokens over the whole
batch, a document's score sums the query tokens' best retrieved similarities divided by how many
query tokens retrieved any of its tokens (sentence-transformers' `xtr_scores`), and a cross-entropy
over the batch's documents pushes the positive up. Optionally (`distill_weight`), a KL term pulls
the batch's score distribution towards a frozen teacher: the base model's exact MaxSim, plus a
weighted word-piece TF-IDF cosine (`lexical_teacher`). The result is a Hugging Face model folder that
`EncoderConfig.model` can point to.

    python -m indexers.train.xtr --data ../shared/data/scifact --split train --out runs/xtr-s50
    python -m indexers.train.xtr --data ../shared/data/scifact --pseudo-queries title --out runs/xtr-title
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indexers.cli_args import add_field_options, parse_args
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.models.encoders import device_for, resolve_model_path
from indexers.train.data import (
    PieceTfidf,
    PseudoQuerySource,
    TrainingPair,
    add_pair_options,
    add_pseudo_query_option,
    check_output_folder,
    labelled_pairs,
    mine_hard_negatives,
    pseudo_query_pairs,
    read_training_corpus,
)

__all__ = ["RECORD_FILE", "TrainResult", "XTRTrainConfig", "main", "mean_maxsim", "train_xtr"]

logger = logging.getLogger(__name__)

RECORD_FILE = "xtr_training.json"


class XTRTrainConfig(BaseModel):
    """Settings of one XTR fine-tuning run (the defaults are the recipe measured on SciFact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path = Field(description="BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/)")
    output: Path = Field(description="where the fine-tuned model folder is written (absent or empty)")
    split: str = Field("train", description="qrels split of labelled pairs")
    pseudo_queries: PseudoQuerySource | None = Field(
        None, description="train on pseudo-queries from the corpus instead of the qrels"
    )
    base_model: str = Field("minilm", description="packaged alias, folder or hub name")
    epochs: float = Field(2.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    max_pairs: int | None = Field(None, ge=1, description="use at most this many pairs (random subset)")
    batch_size: int = Field(16, ge=2)
    hard_negatives: int = Field(1, ge=0, le=8, description="mined lexical negatives per query")
    top_k: int = Field(128, ge=1, description="k_train: document tokens retrieved per query token")
    scale: float = Field(50.0, gt=0, description="1 / softmax temperature")
    distill_weight: float = Field(
        0.0,
        ge=0,
        description="weight of a KL term pulling the batch's score distribution towards a frozen "
        "teacher: the base model's exact MaxSim (mean over query tokens) plus lexical_teacher x TF-IDF",
    )
    lexical_teacher: float = Field(
        0.0, ge=0, description="weight of the word-piece TF-IDF cosine in the teacher's scores"
    )
    learning_rate: float = Field(1e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    query_max_length: int = Field(32, ge=4)
    doc_max_length: int = Field(128, ge=8)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


class TrainResult(BaseModel):
    """What a run did: written as `xtr_training.json` into the model folder."""

    config: dict[str, Any]
    model_folder: str
    device: str
    pairs: int
    steps: int
    seconds: float
    losses: list[float]


def _pairs(config: XTRTrainConfig) -> list[TrainingPair]:
    if config.pseudo_queries is not None:
        return pseudo_query_pairs(read_training_corpus(config.data / "corpus.jsonl"), config.pseudo_queries)
    pairs, _ = labelled_pairs(config.data, config.split)
    return pairs


def mean_maxsim(queries: Any, query_mask: Any, docs: Any, doc_mask: Any) -> Any:
    """Exact MaxSim of every query against every document, averaged over the query's kept tokens.

    Args:
        queries: (Q, q_tokens, dim) normalised token vectors; `query_mask` (Q, q_tokens) marks kept ones.
        docs: (D, d_tokens, dim) normalised token vectors; `doc_mask` (D, d_tokens).

    Returns:
        A (Q, D) float tensor.
    """
    import torch

    similarities = torch.einsum("qid,bjd->qbij", queries, docs)
    similarities = similarities.masked_fill(~doc_mask.bool()[None, :, None, :], -1.0)
    best = similarities.max(dim=-1).values * query_mask[:, None, :]
    return best.sum(-1) / query_mask.sum(-1, keepdim=True).clamp(min=1)


def train_xtr(
    config: XTRTrainConfig, progress: Callable[[int, int, float], None] | None = None
) -> TrainResult:
    """Fine-tune `config.base_model` with the XTR objective and save it to `config.output`.

    Args:
        config: the run's settings.
        progress: called after each step with (step, total steps, loss).

    Returns:
        The run's record (also written to `config.output / "xtr_training.json"`).

    Raises:
        InvalidInput: a training file is missing or malformed (file and line named), or the
            output folder is not empty. Checked before the model is loaded.
        InvalidConfig: the base model cannot be loaded.
        UnsupportedOperation: `device="cuda"` without a CUDA device.
    """
    check_output_folder(config.output)
    pairs = _pairs(config)
    import torch
    from sentence_transformers.multi_vector_encoder.scoring.xtr import xtr_scores
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.max_pairs is not None and len(pairs) > config.max_pairs:
        pairs = random.sample(pairs, config.max_pairs)
    device = device_for(config.device)
    path = resolve_model_path(config.base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).to(device)
    except (OSError, ValueError) as exc:
        raise InvalidConfig(f"cannot load model {config.base_model!r} from {path}: {exc}") from exc
    negatives: list[list[str]] = [[] for _ in pairs]
    lexical_teacher = config.distill_weight > 0 and config.lexical_teacher > 0
    corpus = (
        read_training_corpus(config.data / "corpus.jsonl") if config.hard_negatives or lexical_teacher else {}
    )
    if config.hard_negatives:
        negatives = mine_hard_negatives(pairs, corpus, tokenizer, config.hard_negatives)
    teacher = None
    if config.distill_weight > 0:
        teacher = AutoModel.from_pretrained(path).to(device).eval().requires_grad_(False)
    tfidf = PieceTfidf([d.full_text for d in corpus.values()], tokenizer) if lexical_teacher else None
    group = 1 + config.hard_negatives

    steps_per_epoch = max(1, len(pairs) // config.batch_size)
    total = math.ceil(steps_per_epoch * config.epochs)
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(total * config.warmup_ratio), total)  # type: ignore[no-untyped-call]

    def tokenize(texts: Sequence[str], max_length: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The model inputs and the mask of kept tokens (no specials, no padding)."""
        batch = tokenizer(
            list(texts),
            padding="max_length",  # fixed shapes: variable ones fragment CPU memory step after step
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
            return_special_tokens_mask=True,
        )
        keep = batch.pop("special_tokens_mask").eq(0) & batch["attention_mask"].bool()
        return {k: v.to(device) for k, v in batch.items()}, keep.to(device)

    def embed(encoder: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """L2-normalised token states."""
        return torch.nn.functional.normalize(encoder(**inputs).last_hidden_state, dim=-1)

    model.train()
    losses: list[float] = []
    started = time.perf_counter()
    order: list[int] = []
    for step in range(total):
        if len(order) < config.batch_size:
            order = random.sample(range(len(pairs)), len(pairs))
        chosen, order = order[: config.batch_size], order[config.batch_size :]
        query_texts = [pairs[i].query for i in chosen]
        doc_texts = [text for i in chosen for text in [pairs[i].positive, *negatives[i]]]
        query_inputs, query_mask = tokenize(query_texts, config.query_max_length)
        doc_inputs, doc_mask = tokenize(doc_texts, config.doc_max_length)
        docs = embed(model, doc_inputs)
        n = len(chosen)
        scores = xtr_scores(
            embed(model, query_inputs),
            docs.view(n, group, *docs.shape[1:]),
            queries_mask=query_mask,
            documents_mask=doc_mask.view(n, group, -1),
            top_k=config.top_k,
        )
        labels = torch.arange(n, device=device) * group
        loss = torch.nn.functional.cross_entropy(scores * config.scale, labels)
        if teacher is not None:
            with torch.no_grad():
                target = mean_maxsim(
                    embed(teacher, query_inputs), query_mask, embed(teacher, doc_inputs), doc_mask
                )
                if tfidf is not None:
                    lexical = (tfidf.vectors(query_texts) @ tfidf.vectors(doc_texts).T).toarray()
                    target = target + config.lexical_teacher * torch.as_tensor(lexical, device=device)
            loss = loss + config.distill_weight * torch.nn.functional.kl_div(
                torch.log_softmax(scores * config.scale, dim=-1),
                torch.log_softmax(target * config.scale, dim=-1),
                log_target=True,
                reduction="batchmean",
            )
        if not torch.isfinite(loss):
            raise InvalidConfig(f"the loss became {loss.item()} at step {step + 1}; lower learning_rate")
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.item()))
        if progress is not None:
            progress(step + 1, total, losses[-1])

    model.eval()
    config.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(config.output)
    tokenizer.save_pretrained(config.output)
    result = TrainResult(
        config=config.model_dump(mode="json"),
        model_folder=str(config.output),
        device=device,
        pairs=len(pairs),
        steps=total,
        seconds=time.perf_counter() - started,
        losses=losses,
    )
    (config.output / RECORD_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m indexers.train.xtr", description="Fine-tune a token encoder with the XTR objective."
    )
    fields = XTRTrainConfig.model_fields
    add_pair_options(parser, fields)
    add_pseudo_query_option(parser, fields)
    numbers: dict[str, type] = {
        "epochs": float,
        "scale": float,
        "learning_rate": float,
        "warmup_ratio": float,
        "distill_weight": float,
        "lexical_teacher": float,
    }
    for name in ("max_steps", "max_pairs", "batch_size", "hard_negatives", "top_k", "query_max_length"):
        numbers[name] = int
    numbers.update(doc_max_length=int, seed=int)
    add_field_options(parser, fields, numbers)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m indexers.train.xtr`; returns 0, or 2 for bad arguments, data or config."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def report(step: int, total: int, loss: float) -> None:
        if step == 1 or step == total or step % 10 == 0:
            logger.info("step %d/%d loss %.4f", step, total, loss)

    try:
        config = XTRTrainConfig(**{k: v for k, v in vars(args).items() if v is not None})
        result = train_xtr(config, report)
    except (ValidationError, InvalidConfig, InvalidInput, UnsupportedOperation) as exc:
        print(f"indexers.train.xtr: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    summary = {k: v for k, v in result.model_dump(mode="json").items() if k != "losses"}
    summary["first_loss"], summary["last_loss"] = result.losses[0], result.losses[-1]
    print(json.dumps(summary, indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
