"""Evaluation data: BEIR-layout loading (the tiny folder, smoke-run cuts, clear errors for broken
folders), the samplers, and the LoCoMo reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals.datasets import (
    DatasetError,
    load_beir,
    read_locomo,
    read_qrels,
    sample_docs,
    sample_queries,
    title_queries,
)
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


def test_bad_rows_are_errors_naming_the_line(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy(data_dir, tmp_path)
    with open(folder / "corpus.jsonl", "a") as handle:
        handle.write('{"_id": "d01", "text": "again"}\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl:21: document id 'd01' appears twice"):
        load_beir(folder, "test")
    shutil.copy(data_dir / "corpus.jsonl", folder / "corpus.jsonl")
    with open(folder / "queries.jsonl", "a") as handle:
        handle.write('{"_id": "q99", "text": " "}\n')
    with pytest.raises(DatasetError, match=r"queries.jsonl:\d+: query 'q99' has empty text"):
        load_beir(folder, "test")
    (folder / "qrels" / "test.tsv").write_text("q1\t\t1\n")
    with pytest.raises(DatasetError, match=r"test.tsv:1: missing query id or document id"):
        read_qrels(folder / "qrels" / "test.tsv")


def test_sample_docs_keeps_judged_documents_then_file_order(data_dir: Path) -> None:
    dataset = load_beir(data_dir, "test")
    judged = {d for j in dataset.qrels.values() for d in j}
    sample = sample_docs(dataset, 12)
    ids = [d.id for d in sample.docs]
    assert len(ids) == 12 and sample.limit_docs == 12 and judged <= set(ids)
    assert ids == [d.id for d in dataset.docs if d.id in set(ids)]  # file order kept
    extra = [d.id for d in dataset.docs if d.id not in judged][:2]
    assert set(ids) == judged | set(extra)  # the others come in file order
    assert sample.queries == dataset.queries and sample.qrels == dataset.qrels
    with pytest.raises(DatasetError, match="at least 1"):
        sample_docs(dataset, 0)


def test_query_samples_are_seeded(data_dir: Path) -> None:
    dataset = load_beir(data_dir, "test")
    first, again, other = (sample_queries(dataset, 4, seed) for seed in (0, 0, 1))
    assert first == again and len(first.queries) == 4 and set(first.qrels) == set(first.queries)
    assert set(first.queries) <= set(dataset.queries) and first.queries != other.queries
    assert sample_queries(dataset, 99).queries == dataset.queries
    titles = title_queries(dataset, 3)
    assert titles.split == "titles" and len(titles.queries) == 3
    for qid, text in titles.queries.items():
        (doc_id,) = titles.qrels[qid]
        doc = next(d for d in dataset.docs if d.id == doc_id)
        assert qid == f"t{doc_id}" and doc.text.startswith(text) and titles.qrels[qid][doc_id] == 1


LOCOMO = {
    "sample_id": "conv-1",
    "conversation": {
        "speaker_a": "Ada",
        "session_10_date_time": "9:00 am on 3 May, 2023",
        "session_10": [{"speaker": "Ada", "dia_id": "D10:1", "text": "Later."}],
        "session_2_date_time": "1:56 pm on 8 May, 2023",
        "session_2": [
            {"speaker": "Ben", "dia_id": "D2:1", "text": "Look.", "blip_caption": "a red boat"},
            {"speaker": "Ada", "dia_id": "D2:2", "text": "Nice."},
        ],
    },
    "qa": [
        {"question": "What colour?", "answer": 7, "evidence": ["D2:1"], "category": 1},
        {"question": "Trick?", "adversarial_answer": "none", "evidence": ["D2:2"], "category": 5},
    ],
}


def test_locomo_sessions_in_number_order_with_captions(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([LOCOMO]))
    (sample,) = read_locomo(path)
    assert [s.number for s in sample.sessions] == [2, 10]  # numbers, not text order
    assert sample.sessions[0].date_time == "1:56 pm on 8 May, 2023"
    assert [t.text for t in sample.sessions[0].turns] == ["Look. [shares a photo of a red boat]", "Nice."]
    gold, adversarial = sample.qa
    assert (gold.position, gold.answer, gold.adversarial_answer, gold.category) == (0, "7", None, 1)
    assert (adversarial.answer, adversarial.adversarial_answer, adversarial.evidence) == (
        None,
        "none",
        ["D2:2"],
    )


def test_malformed_locomo_names_the_conversation(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([{**LOCOMO, "qa": [{"answer": "x"}]}]))
    with pytest.raises(DatasetError, match="conversation 'conv-1' is malformed"):
        read_locomo(path)
    path.write_text("[not json")
    with pytest.raises(DatasetError, match="cannot read LoCoMo file"):
        read_locomo(path)
