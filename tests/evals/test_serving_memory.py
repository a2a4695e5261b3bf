"""The serving-memory benchmark: one mode measured in this process, memory-mapped or read into memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.serving_memory import main, read_into_memory, serve_once
from evals.datasets import load_beir
from indexers import create_index, open_index, parse_config

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serving") / "index"
    config = {"kind": "colbert_pooled", "ann": "ivf", "nlist": 4, "encoder": {"model": "fake:hash:64"}}
    index = create_index(parse_config(config))
    index.build(load_beir(DATA, "test").docs)
    index.save(folder)
    return folder


def test_reading_into_memory_counts_what_mapping_leaves_on_disk(saved: Path) -> None:
    mapped = serve_once(DATA, "test", saved, "mmap")
    in_memory = serve_once(DATA, "test", saved, "in-memory")
    assert mapped["num_docs"] == in_memory["num_docs"] == 20
    assert mapped["ndcg_at_10"] == pytest.approx(in_memory["ndcg_at_10"])
    assert 0 < mapped["memory_bytes"] < in_memory["memory_bytes"]
    assert mapped["k"] == 100 and 0 < mapped["encode_ms_p50"] and 0 < mapped["batch_queries_per_s"]
    assert 0 < mapped["search_ms_p50"] <= mapped["search_ms_p95"]
    for result in (mapped, in_memory):
        searched = result["searched_mb"]
        assert 0 < searched["RssAnon"] <= searched["VmRSS"] <= searched["VmHWM"]
        assert 0 <= searched["index_pages"] <= searched["VmRSS"]


def test_unknown_modes_are_refused(saved: Path) -> None:
    args = ["--data", str(DATA), "--split", "test", "--index-dir", str(saved), "--modes", "mmap,swap"]
    assert main(args) == 2


def test_read_into_memory_copies_every_segment(saved: Path) -> None:
    index = open_index(saved)
    assert any(isinstance(a, np.memmap) for s in index.store.segments for a in s.arrays().values())  # type: ignore[attr-defined]
    read_into_memory(index)
    assert not any(isinstance(a, np.memmap) for s in index.store.segments for a in s.arrays().values())  # type: ignore[attr-defined]


def test_k_reaches_the_fresh_process_and_the_table(saved: Path, tmp_path: Path) -> None:
    args = ["--data", str(DATA), "--split", "test", "--index-dir", str(saved), "--modes", "mmap"]
    assert main([*args, "--k", "3", "--results-dir", str(tmp_path)]) == 0
    (result,) = json.loads((tmp_path / "data-test-serving-memory.json").read_text())
    assert result["k"] == 3 and result["encode_ms_p50"] > 0
