"""SLIM fine-tuning: the loss by hand, and a few real steps on the tiny corpus that save a usable encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from indexers.base import Doc
from indexers.configs import EncoderConfig, SlimConfig
from indexers.errors import InvalidInput
from indexers.kinds.slim import SlimIndex
from indexers.models.encoders import load_vocab_encoder
from indexers.train.data import labelled_pairs
from indexers.train.slim import SlimTrainConfig, main, slim_loss, train_slim


def test_slim_loss_by_hand() -> None:
    queries = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # (2 queries, 1 token, V=2)
    docs = torch.tensor([[[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]])  # (2 docs, 2 tokens, V=2)
    scores = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # sum over query tokens of max over doc tokens
    ranking = torch.nn.functional.cross_entropy(scores, torch.arange(2))
    flops_q = (0.5**2 + 0.5**2) * 0.1
    flops_d = (0.5**2 + 0.75**2) * 0.2  # token means over the 4 document tokens: (2/4, 3/4)
    assert float(slim_loss(queries, docs, 0.1, 0.2)) == pytest.approx(float(ranking) + flops_q + flops_d)


def test_slim_loss_with_hard_negatives_by_hand() -> None:
    queries = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    docs = torch.tensor([[[2.0, 0.0]], [[1.0, 0.0]], [[0.0, 3.0]], [[0.0, 4.0]]])  # (positive, negative) x 2
    scores = torch.tensor([[2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]])
    expected = torch.nn.functional.cross_entropy(scores, torch.tensor([0, 2]))
    assert float(slim_loss(queries, docs, 0.0, 0.0)) == pytest.approx(float(expected))


def test_bad_data_and_a_missing_corpus_are_errors(data_dir: Path, tmp_path: Path) -> None:
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    pairs, _ = labelled_pairs(data_dir, "test")
    with pytest.raises(InvalidInput, match="corpus"):
        train_slim(pairs, SlimTrainConfig(hard_negatives=1, batch_size=2), tmp_path / "m")


def test_a_few_steps_save_an_encoder_the_slim_kind_loads(
    data_dir: Path, tiny_docs: list[Doc], tmp_path: Path
) -> None:
    pairs, corpus = labelled_pairs(data_dir, "test")
    config = SlimTrainConfig(
        max_steps=2,
        batch_size=2,
        hard_negatives=1,
        learning_rate=3e-4,
        query_max_length=16,
        doc_max_length=32,
        device="cpu",
    )
    result = train_slim(pairs, config, tmp_path / "model", corpus)
    assert result.steps == 2 and np.isfinite(result.last_loss)
    assert (tmp_path / "model" / "tessera_training.json").is_file()

    tuned = load_vocab_encoder(EncoderConfig(model=str(tmp_path / "model")))
    base = load_vocab_encoder(EncoderConfig(model="splade-tiny"))
    assert tuned.fingerprint == base.fingerprint  # same vocabulary: indexes stay compatible
    text = ["insulin lowers blood glucose"]
    assert not np.allclose(
        tuned.encode(text, is_query=True)[0].values, base.encode(text, is_query=True)[0].values
    )

    index = SlimIndex(SlimConfig(encoder=EncoderConfig(model=str(tmp_path / "model"), batch_size=8)))
    index.build(tiny_docs)
    assert index.search(["insulin diabetes"], k=1)[0][0].doc_id == "d01"
