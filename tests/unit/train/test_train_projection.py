"""Projection training on the tiny BEIR folder with the real MiniLM: the saved folder loads as an
encoder whose token vectors are the projected base states, trains towards the labels, indexes; and
a model folder's Dense module is applied (or refused) as sentence-transformers lists it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from indexers import create_index, parse_config
from indexers.configs import EncoderConfig
from indexers.errors import InvalidConfig, InvalidInput
from indexers.models.encoders import load_token_encoder
from indexers.train.data import read_training_corpus
from indexers.train.projection import RECORD_FILE, ProjectionTrainConfig, main, train_projection


@pytest.fixture()
def dataset(tmp_path: Path, data_dir: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(data_dir, folder)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, one_torch_thread: None) -> Path:
    out = tmp_path_factory.mktemp("projection") / "model"
    config = ProjectionTrainConfig(
        data=data_dir, output=out, split="test", dim=16, epochs=8, batch_size=4, negatives=3, hard_depth=5
    )
    train_projection(config)
    return out


def test_the_saved_folder_projects_the_base_models_token_states(trained: Path) -> None:
    record = json.loads((trained / RECORD_FILE).read_text())
    assert record["pairs"] == 10 and record["documents_encoded"] == 20
    assert all(math.isfinite(loss) for loss in record["losses"])
    assert record["losses"][-1] < record["losses"][0]  # it learns the labelled pairs
    modules = json.loads((trained / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Dense"]

    text = "insulin lowers glucose"
    projected = load_token_encoder(EncoderConfig(model=str(trained)))
    base = load_token_encoder(EncoderConfig())
    assert projected.dim == 16
    (got,) = projected.encode([text], is_query=True)
    (plain,) = base.encode([text], is_query=True)
    matrix = load_file(str(trained / "1_Dense" / "model.safetensors"))["linear.weight"]
    expected = plain.vectors @ matrix.T
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert got.vectors.shape == (len(plain.vectors), 16)
    np.testing.assert_allclose(got.vectors, expected, atol=1e-4)


def test_title_pseudo_queries_join_the_labelled_pairs(data_dir: Path, tmp_path: Path) -> None:
    small = {"dim": 16, "epochs": 2, "batch_size": 8, "negatives": 3, "hard_depth": 5}
    record = train_projection(
        ProjectionTrainConfig(
            data=data_dir, output=tmp_path / "model", split="test", pseudo_queries="title", **small
        )
    )
    titled = sum(bool(d.title) for d in read_training_corpus(data_dir / "corpus.jsonl").values())
    assert (record.pairs, record.pseudo_pairs) == (10 + titled, titled)
    assert record.documents_encoded == 20 and record.steps == 2 * math.ceil(record.pairs / 8)
    assert all(math.isfinite(loss) for loss in record.losses)
    assert json.loads((tmp_path / "model" / RECORD_FILE).read_text())["pseudo_pairs"] == titled


def test_a_projected_model_indexes_and_finds_the_labelled_documents(trained: Path, data_dir: Path) -> None:
    index = create_index(parse_config({"kind": "exact", "encoder": {"model": str(trained)}}))
    index.build(list(read_training_corpus(data_dir / "corpus.jsonl").values()))
    assert index.search(["insulin therapy for type 1 diabetes"], k=1)[0][0].doc_id == "d01"


def test_bad_settings_and_folders_fail_before_training(dataset: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        train_projection(ProjectionTrainConfig(data=dataset, output=taken, split="test"))
    assert (taken / "x").read_text() == "keep me"
    assert main(["--data", str(dataset), "--split", "test", "--out", str(tmp_path / "m"), "--dim", "4"]) == 2
    assert main(["--data", str(dataset), "--split", "nope", "--out", str(tmp_path / "m")]) == 2
    with pytest.raises(InvalidConfig, match="dim 512 is larger than the model's 384"):
        train_projection(ProjectionTrainConfig(data=dataset, output=tmp_path / "m", split="test", dim=512))
    assert not (tmp_path / "m").exists()


def test_a_dense_module_with_another_activation_is_refused(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tanh"
    shutil.copytree(trained, folder)
    settings = json.loads((folder / "1_Dense" / "config.json").read_text())
    settings["activation_function"] = "torch.nn.modules.activation.Tanh"
    (folder / "1_Dense" / "config.json").write_text(json.dumps(settings))
    with pytest.raises(InvalidConfig, match="identity"):
        load_token_encoder(EncoderConfig(model=str(folder)))
