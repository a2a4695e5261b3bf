"""BEIR-layout loading: the tiny folder, smoke-run cuts, and clear errors for broken folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evals.datasets import DatasetError, load_beir, read_qrels
from indexers.errors import InvalidInput


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mini"
    shutil.copytree(data_dir, folder)
    return folder


def test_loads_tiny_folder(data_dir: Path) -> None:
    dataset = load_beir(data_dir, "test")
    assert (dataset.name, dataset.split, dataset.limit_docs) == ("data", "test", None)
    assert len(dataset.docs) == 20
    assert dataset.docs[0].id == "d01" and dataset.docs[0].title == "Insulin and diabetes"
    assert set(dataset.queries) == set(dataset.qrels) == {f"q{i}" for i in range(1, 11)}
    assert dataset.queries["q2"] == "aspirin heart attack risk"
    assert dataset.qrels["q1"] == {"d01": 1}


def test_only_judged_queries_are_kept(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy(data_dir, tmp_path)
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td02\t2\nq2\td03\t0\n")
    dataset = load_beir(folder, "dev")
    assert dataset.queries == {"q2": "aspirin heart attack risk"}
    assert dataset.qrels == {"q2": {"d02": 2, "d03": 0}}


def test_limit_docs_drops_judgments_on_cut_documents(data_dir: Path) -> None:
    dataset = load_beir(data_dir, "test", limit_docs=5)
    assert [d.id for d in dataset.docs] == ["d01", "d02", "d03", "d04", "d05"]
    # q1..q4 are judged on d01, d02, d04, d05; the other queries lose their only relevant document.
    assert set(dataset.qrels) == set(dataset.queries) == {"q1", "q2", "q3", "q4"}
    assert dataset.limit_docs == 5


def test_missing_split_names_the_available_ones(data_dir: Path) -> None:
    with pytest.raises(DatasetError, match=r"split 'dev' not found.*available splits: test"):
        load_beir(data_dir, "dev")


def test_missing_folder_and_files(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_beir(tmp_path / "absent", "test")
    folder = _copy(data_dir, tmp_path)
    (folder / "queries.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"queries file not found.*holds: corpus.jsonl, qrels"):
        load_beir(folder, "test")


def test_judged_query_without_text(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy(data_dir, tmp_path)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq99\td01\t1\n")
    with pytest.raises(DatasetError, match="1 judged queries .* no text .*'q99'"):
        load_beir(folder, "test")


def test_malformed_files_name_the_line(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy(data_dir, tmp_path)
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td01\thigh\n")
    with pytest.raises(DatasetError, match=r"test.tsv:2: score 'high' is not an integer"):
        read_qrels(qrels)
    qrels.write_text("q1 d01 1\n")
    with pytest.raises(DatasetError, match="test.tsv:1: expected 3 tab-separated fields"):
        read_qrels(qrels)
    shutil.copy(data_dir / "qrels" / "test.tsv", qrels)
    with open(folder / "corpus.jsonl", "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(DatasetError, match=r"corpus.jsonl:21: invalid JSON"):
        load_beir(folder, "test")


def test_header_is_optional_and_errors_are_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("q1\td1\t1\nq1\td2\t0\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 0}}
    assert issubclass(DatasetError, InvalidInput)


def test_limit_that_leaves_no_query(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy(data_dir, tmp_path)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq10\td20\t1\n")
    with pytest.raises(DatasetError, match="leaves no query to evaluate"):
        load_beir(folder, "test", limit_docs=3)
