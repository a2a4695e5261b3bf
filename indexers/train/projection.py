"""Train a linear token projection for late interaction on a frozen encoder (ColBERT's linear layer).

The encoder's token vectors are computed once; a `dim x hidden` matrix, started from the principal
directions of the corpus's token vectors, is then trained so that MaxSim over the projected,
L2-normalised vectors ranks each labelled positive above hard negatives and the other documents of
its batch (cross-entropy, ColBERT's objective). Hard negatives are the documents the base model's
exact MaxSim ranks highest among each query's best lexical matches. Pseudo-query pairs from the
corpus (a document's title as the query, the rest of it as the positive) can join the labelled
ones. The result is the base model's folder with a sentence-transformers `Dense` module
(`1_Dense/`) after the encoder, which `EncoderConfig.model` can point to: token vectors then have
`dim` dimensions.

    python -m indexers.train.projection --data ../shared/data/scifact --split train --out runs/minilm-128
    python -m indexers.train.projection --data ../shared/data/scifact --split train \
        --pseudo-queries title --epochs 4 --out runs/minilm-128-title
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indexers.cli_args import add_field_options, parse_args
from indexers.configs import EncoderConfig
from indexers.errors import InvalidConfig, InvalidInput, UnsupportedOperation
from indexers.models.encoders import HFTokenEncoder, load_token_encoder, resolve_model_path
from indexers.train.data import (
    PseudoQuerySource,
    TrainingPair,
    add_pair_options,
    add_pseudo_query_option,
    check_output_folder,
    labelled_pairs,
    lexical_negatives,
    pseudo_query_pairs,
)

__all__ = ["RECORD_FILE", "ProjectionResult", "ProjectionTrainConfig", "main", "train_projection"]

logger = logging.getLogger(__name__)

RECORD_FILE = "projection_training.json"
DENSE_FOLDER = "1_Dense"
ENCODE_CHUNK = 512
_NOT_COPIED = ("modules.json", "README.md", ".gitattributes", "1_Pooling", "2_Normalize")


class ProjectionTrainConfig(BaseModel):
    """Settings of one projection training run (the defaults are the recipe measured on SciFact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path = Field(description="BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/)")
    output: Path = Field(description="where the model folder is written (absent or empty)")
    split: str = Field("train", description="qrels split of labelled pairs")
    pseudo_queries: PseudoQuerySource | None = Field(
        None, description="also train on pseudo-queries from the corpus (its titles or first sentences)"
    )
    base_model: str = Field("minilm", description="packaged alias, folder or hub name (kept frozen)")
    dim: int = Field(128, ge=8, description="dimensions of the projected token vectors")
    epochs: int = Field(16, ge=1)
    batch_size: int = Field(16, ge=2, description="pairs per step")
    learning_rate: float = Field(2e-3, gt=0)
    negatives: int = Field(15, ge=0, le=64, description="hard negatives per pair and step")
    hard_depth: int = Field(30, ge=1, description="the base model's best negatives sampled from")
    mine_depth: int = Field(100, ge=1, description="lexical candidates the base model re-ranks")
    doc_max_length: int = Field(256, ge=8, description="documents are cut to this many tokens")
    seed: int = 0


class ProjectionResult(BaseModel):
    """What a run did: written as `projection_training.json` into the model folder."""

    config: dict[str, Any]
    model_folder: str
    pairs: int
    pseudo_pairs: int = Field(description="of the pairs, those made from the corpus")
    documents_encoded: int
    steps: int
    encode_seconds: float
    train_seconds: float
    losses: list[float] = Field(description="mean loss of each epoch")


def _padded(vectors: Sequence[np.ndarray]) -> tuple[Any, Any]:
    """`(n, longest, dim)` float32 tensor and `(n, longest)` bool mask of the kept rows."""
    import torch

    longest = max(len(v) for v in vectors)
    out = np.zeros((len(vectors), longest, vectors[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(vectors), longest), dtype=bool)
    for i, v in enumerate(vectors):
        out[i, : len(v)], mask[i, : len(v)] = v, True
    return torch.from_numpy(out), torch.from_numpy(mask)


def _maxsim(queries: Any, query_mask: Any, docs: Any, doc_mask: Any) -> Any:
    """`(Q, D)` ColBERT scores: per query token the best document token similarity, summed."""
    import torch

    sims = torch.einsum("qid,njd->qnij", queries, docs).masked_fill(~doc_mask[None, :, None, :], -2.0)
    return (sims.max(dim=-1).values * query_mask[:, None, :]).sum(dim=-1)


def _hard_negatives(
    pairs: list[TrainingPair],
    candidates: list[list[str]],
    query_vectors: dict[str, np.ndarray],
    doc_vectors: Callable[[str], np.ndarray],
    depth: int,
) -> list[list[str]]:
    """Per pair, its candidates re-ranked by the base model's exact MaxSim, the best `depth` kept."""
    out = []
    for pair, ids in zip(pairs, candidates, strict=True):
        query = query_vectors[pair.query].astype(np.float32)
        scores = [float((doc_vectors(i).astype(np.float32) @ query.T).max(axis=0).sum()) for i in ids]
        out.append([ids[j] for j in np.argsort(scores)[::-1][:depth]])
    return out


def _initial_projection(doc_vectors: list[np.ndarray], dim: int, seed: int) -> np.ndarray:
    """The `dim` leading right singular vectors of a sample of token vectors `(dim, hidden)`."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(doc_vectors), size=min(len(doc_vectors), 2000), replace=False)
    sample = np.concatenate([doc_vectors[i] for i in sorted(chosen)]).astype(np.float32)
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    return np.ascontiguousarray(vt[:dim], dtype=np.float32)


def _save_model(config: ProjectionTrainConfig, weight: np.ndarray) -> None:
    """The base model's files, and `weight` as a `Dense` module listed after the encoder."""
    from safetensors.numpy import save_file

    source = Path(resolve_model_path(config.base_model))
    if not source.is_dir():
        raise UnsupportedOperation(f"base model {config.base_model!r} is not a local folder; download it")
    shutil.copytree(source, config.output, ignore=shutil.ignore_patterns(*_NOT_COPIED), dirs_exist_ok=True)
    dense = config.output / DENSE_FOLDER
    dense.mkdir()
    settings = {
        "in_features": int(weight.shape[1]),
        "out_features": int(weight.shape[0]),
        "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity",
    }
    (dense / "config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    save_file({"linear.weight": weight}, str(dense / "model.safetensors"))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": DENSE_FOLDER, "type": "sentence_transformers.models.Dense"},
    ]
    (config.output / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")


def train_projection(
    config: ProjectionTrainConfig, progress: Callable[[int, int, float], None] | None = None
) -> ProjectionResult:
    """Train the projection of `config.base_model` and save the model folder to `config.output`.

    Args:
        config: the run's settings.
        progress: called after each epoch with (epoch, epochs, mean loss).

    Returns:
        The run's record (also written to `config.output / "projection_training.json"`).

    Raises:
        InvalidInput: a training file is missing or malformed (file and line named), or the output
            folder is not empty. Checked before the model is loaded.
        InvalidConfig: the base model cannot be loaded, already projects its tokens, or has fewer
            dimensions than `dim`.
        UnsupportedOperation: the base model is not a local folder (its files are copied).
    """
    check_output_folder(config.output)
    pairs, corpus = labelled_pairs(config.data, config.split)
    labelled = len(pairs)
    if config.pseudo_queries is not None:
        pairs += pseudo_query_pairs(corpus, config.pseudo_queries)
    import torch

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    encoder = load_token_encoder(EncoderConfig(model=config.base_model, doc_max_length=config.doc_max_length))
    if not isinstance(encoder, HFTokenEncoder) or encoder.projections:
        raise InvalidConfig(f"base model {config.base_model!r} must be a plain encoder without projections")
    if config.dim > encoder.dim:  # before the corpus is encoded
        raise InvalidConfig(f"dim {config.dim} is larger than the model's {encoder.dim} dimensions")
    started = time.perf_counter()
    candidates = lexical_negatives(pairs, corpus, encoder.tokenizer, config.mine_depth)
    needed = sorted({p.positive_id for p in pairs} | {i for ids in candidates for i in ids})
    # vectors by text: a pseudo-query's positive is its document without the part that made the query
    texts = sorted({corpus[i].full_text for i in needed} | {p.positive for p in pairs})
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), ENCODE_CHUNK):  # float16 as they come: a chunk in float32 at a time
        chunk = texts[start : start + ENCODE_CHUNK]
        encoded = encoder.encode(chunk, is_query=False)
        vectors |= {t: e.vectors.astype(np.float16) for t, e in zip(chunk, encoded, strict=True)}

    def doc_vectors(doc_id: str) -> np.ndarray:
        return vectors[corpus[doc_id].full_text]

    queries = sorted({p.query for p in pairs})
    query_vectors = {
        q: e.vectors for q, e in zip(queries, encoder.encode(queries, is_query=True), strict=True)
    }
    hard = _hard_negatives(pairs, candidates, query_vectors, doc_vectors, config.hard_depth)
    encode_seconds = time.perf_counter() - started

    initial = _initial_projection([doc_vectors(i) for i in needed], config.dim, config.seed)
    weight = torch.nn.Parameter(torch.from_numpy(initial))
    optimizer = torch.optim.Adam([weight], lr=config.learning_rate)
    positives: dict[str, set[str]] = {}
    for pair in pairs:
        positives.setdefault(pair.query, set()).add(pair.positive_id)

    def project(vectors: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(vectors @ weight.T, dim=-1)

    losses: list[float] = []
    steps = 0
    started = time.perf_counter()
    order = list(range(len(pairs)))
    for epoch in range(config.epochs):
        random.shuffle(order)
        epoch_losses = []
        for start in range(0, len(order), config.batch_size):
            chosen = order[start : start + config.batch_size]
            batch = [pairs[i] for i in chosen]
            doc_ids: list[str] = []
            doc_texts: list[str] = []
            labels = []
            for i in chosen:
                labels.append(len(doc_ids))
                negatives = random.sample(hard[i], min(config.negatives, len(hard[i])))
                doc_ids += [pairs[i].positive_id, *negatives]
                doc_texts += [pairs[i].positive, *(corpus[n].full_text for n in negatives)]
            query_tensor, query_mask = _padded([query_vectors[p.query].astype(np.float32) for p in batch])
            doc_tensor, doc_mask = _padded([vectors[t].astype(np.float32) for t in doc_texts])
            scores = _maxsim(project(query_tensor), query_mask.float(), project(doc_tensor), doc_mask)
            other_positives = torch.tensor(  # a query's other positives in the batch are no negatives
                [
                    [
                        column != label and doc_id in positives[pair.query]
                        for column, doc_id in enumerate(doc_ids)
                    ]
                    for pair, label in zip(batch, labels, strict=True)
                ]
            )
            loss = torch.nn.functional.cross_entropy(
                scores.masked_fill(other_positives, float("-inf")), torch.tensor(labels)
            )
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            epoch_losses.append(float(loss.item()))
            steps += 1
        losses.append(float(np.mean(epoch_losses)))
        if progress is not None:
            progress(epoch + 1, config.epochs, losses[-1])

    _save_model(config, weight.detach().numpy())
    result = ProjectionResult(
        config=config.model_dump(mode="json"),
        model_folder=str(config.output),
        pairs=len(pairs),
        pseudo_pairs=len(pairs) - labelled,
        documents_encoded=len(needed),
        steps=steps,
        encode_seconds=encode_seconds,
        train_seconds=time.perf_counter() - started,
        losses=losses,
    )
    (config.output / RECORD_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m indexers.train.projection",
        description="Train a linear token projection for late interaction on a frozen encoder.",
    )
    fields = ProjectionTrainConfig.model_fields
    add_pair_options(parser, fields)
    add_pseudo_query_option(parser, fields)
    integers = (
        "dim",
        "epochs",
        "batch_size",
        "negatives",
        "hard_depth",
        "mine_depth",
        "doc_max_length",
        "seed",
    )
    add_field_options(parser, fields, {"learning_rate": float} | dict.fromkeys(integers, int))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m indexers.train.projection`; returns 0, or 2 for bad arguments, data or config."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def report(epoch: int, epochs: int, loss: float) -> None:
        logger.info("epoch %d/%d loss %.4f", epoch, epochs, loss)

    try:
        config = ProjectionTrainConfig(**vars(args))
        result = train_projection(config, report)
    except (ValidationError, InvalidConfig, InvalidInput, UnsupportedOperation) as exc:
        print(f"indexers.train.projection: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(result.model_dump_json(indent=2, exclude={"losses"}))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
