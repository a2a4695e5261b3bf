"""XTR training: input checking (file and line named), pseudo-queries, hard negatives, and a few
real steps on MiniLM whose saved folder loads as an encoder and indexes."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexers import Doc, create_index, parse_config
from indexers.configs import EncoderConfig
from indexers.errors import InvalidInput
from indexers.models.encoders import load_token_encoder
from indexers.train.data import labelled_pairs, mine_hard_negatives, pseudo_query_pairs, read_training_corpus
from indexers.train.xtr import RECORD_FILE, XTRTrainConfig, main, mean_maxsim, train_xtr


@pytest.fixture()
def dataset(tmp_path: Path, data_dir: Path) -> Path:
    """A writable copy of the tiny BEIR folder (qrels split `test`)."""
    folder = tmp_path / "data"
    shutil.copytree(data_dir, folder)
    return folder


def _append(path: Path, line: str) -> int:
    """Append a line; returns its line number."""
    text = path.read_text()
    path.write_text(text.rstrip("\n") + "\n" + line + "\n")
    return len(text.rstrip("\n").splitlines()) + 1


def test_labelled_pairs_read_the_qrels(dataset: Path) -> None:
    pairs, docs = labelled_pairs(dataset, "test")
    assert len(pairs) == 10 and len(docs) == 20
    assert pairs[0].query == "does insulin lower blood glucose in diabetes"
    assert pairs[0].positive_id == "d01" and pairs[0].positive.startswith("Insulin and diabetes")


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("qrels/test.tsv", "q404\td01\t1", r"test.tsv:\d+: query id 'q404' is not in"),
        ("qrels/test.tsv", "q1\td404\t1", r"test.tsv:\d+: document id 'd404' is not in"),
        ("qrels/test.tsv", "q1\t\t1", r"test.tsv:\d+: missing query id or document id"),
        ("queries.jsonl", '{"_id": "q99", "text": "  "}', r"queries.jsonl:\d+: query 'q99' has empty text"),
        ("queries.jsonl", '{"text": "no id"}', r"queries.jsonl:\d+: missing query id"),
        ("corpus.jsonl", '{"_id": "d99", "text": ""}', r"corpus.jsonl:\d+: document 'd99' has empty text"),
        ("corpus.jsonl", '{"text": "no id"}', r"corpus.jsonl:\d+: missing document id"),
    ],
)
def test_bad_training_files_name_the_line(dataset: Path, file: str, line: str, message: str) -> None:
    number = _append(dataset / file, line)
    with pytest.raises(InvalidInput, match=message) as error:
        labelled_pairs(dataset, "test")
    assert f":{number}:" in str(error.value)


def test_pseudo_queries_from_titles_and_first_sentences(dataset: Path) -> None:
    docs = read_training_corpus(dataset / "corpus.jsonl")
    titles = pseudo_query_pairs(docs, "title")
    assert titles[0].query == "Insulin and diabetes"
    assert titles[0].positive == docs["d01"].text
    untitled = {"x": Doc(id="x", text="First claim here. Second sentence follows! Third?")}
    (pair,) = pseudo_query_pairs(untitled, "first_sentence")
    assert (pair.query, pair.positive) == ("First claim here.", "Second sentence follows! Third?")
    with pytest.raises(InvalidInput, match="no document yields a title pseudo-query"):
        pseudo_query_pairs(untitled, "title")


def test_hard_negatives_are_lexical_matches_that_are_not_positives(dataset: Path) -> None:
    from transformers import AutoTokenizer

    from indexers.models.encoders import resolve_model_path

    pairs, docs = labelled_pairs(dataset, "test")
    negatives = mine_hard_negatives(
        pairs, docs, AutoTokenizer.from_pretrained(resolve_model_path("minilm")), 2
    )
    assert [len(n) for n in negatives] == [2] * len(pairs)
    for pair, chosen in zip(pairs, negatives, strict=True):
        assert pair.positive not in chosen


def test_output_folder_must_be_empty_and_data_valid_before_any_model_loads(
    dataset: Path, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        train_xtr(XTRTrainConfig(data=dataset, output=taken, split="test", base_model="/no/such/model"))
    assert (taken / "x").read_text() == "keep me"
    _append(dataset / "qrels/test.tsv", "q1\td404\t1")
    assert main(["--data", str(dataset), "--split", "test", "--out", str(tmp_path / "m")]) == 2
    assert not (tmp_path / "m").exists()


def test_a_few_real_steps_save_a_folder_that_encodes_and_indexes(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    seen: list[tuple[int, int]] = []
    result = train_xtr(
        XTRTrainConfig(
            data=dataset,
            output=out,
            split="test",
            batch_size=4,
            max_steps=2,
            hard_negatives=1,
            doc_max_length=32,
            query_max_length=16,
            learning_rate=5e-5,
        ),  # fmt: skip
        progress=lambda step, total, loss: seen.append((step, total)),
    )
    assert result.steps == 2 and seen == [(1, 2), (2, 2)]
    assert all(math.isfinite(loss) and loss > 0 for loss in result.losses)
    assert json.loads((out / RECORD_FILE).read_text())["steps"] == 2

    encoder = load_token_encoder(EncoderConfig(model=str(out)))
    (encoded,) = encoder.encode(["insulin lowers glucose"], is_query=True)
    assert encoded.vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, atol=1e-4)

    index = create_index(
        parse_config({"kind": "xtr", "candidate_tokens": 32, "encoder": {"model": str(out)}})
    )
    index.build(list(read_training_corpus(dataset / "corpus.jsonl").values()))
    assert index.search(["insulin therapy for type 1 diabetes"], k=1)[0][0].doc_id == "d01"


def test_mean_maxsim_matches_a_loop_over_pairs() -> None:
    import torch

    rng = np.random.default_rng(0)
    queries = torch.nn.functional.normalize(
        torch.as_tensor(rng.normal(size=(2, 4, 8)), dtype=torch.float32), dim=-1
    )
    docs = torch.nn.functional.normalize(
        torch.as_tensor(rng.normal(size=(3, 5, 8)), dtype=torch.float32), dim=-1
    )
    query_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    doc_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    got = mean_maxsim(queries, query_mask, docs, doc_mask)
    for q in range(2):
        for d in range(3):
            sims = queries[q][query_mask[q]] @ docs[d][doc_mask[d]].T
            assert got[q, d].item() == pytest.approx(sims.max(dim=1).values.mean().item(), abs=1e-6)


def test_distillation_adds_a_nonnegative_term_to_the_same_first_step(dataset: Path, tmp_path: Path) -> None:
    settings = {"data": dataset, "split": "test", "batch_size": 4, "max_steps": 1}
    settings |= {"doc_max_length": 32, "query_max_length": 16}
    plain = train_xtr(XTRTrainConfig(output=tmp_path / "plain", **settings))  # type: ignore[arg-type]
    distilled = train_xtr(
        XTRTrainConfig(output=tmp_path / "kd", distill_weight=1.0, lexical_teacher=0.5, **settings)  # type: ignore[arg-type]
    )
    assert math.isfinite(distilled.losses[0])
    assert distilled.losses[0] > plain.losses[0] + 1e-6  # same batch and weights: CE plus a KL > 0
