"""`benchmarks.lens_sweep` on the 20-document folder with the fake vocabulary encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.lens_sweep import cluster_max, main
from evals.beir import quality
from evals.datasets import load_beir
from indexers.configs import LensConfig
from indexers.kinds.lens import LensIndex


def test_cluster_max_is_the_lens_of_the_vocabulary_vector() -> None:
    vocab = np.array([[0.5, 0.0, 2.0, 1.0], [0.0, 0.0, 0.0, 3.0]])
    clusters = np.array([2, 0, 2, 0])
    assert cluster_max(vocab, clusters, 4).tolist() == [[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 0.0, 0.0]]


@pytest.mark.slow  # clusters the 30,522-id fake vocabulary twice (about 13 s)
def test_sweep_rows_match_a_built_lens_index(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(data_dir), "--splits", "test", "--lengths", "64", "--clusters", "16",
            "--model", "fake:hash", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "sweep")]  # fmt: skip
    assert main(args) == 0
    rows = {row["setting"]: row["test"] for row in json.loads((tmp_path / "sweep.json").read_text())["rows"]}
    assert list(rows) == [
        "64 tokens, full vocabulary, dot product (SPLADE)",
        "64 tokens, full vocabulary, cosine",
        "64 tokens, 16 clusters (LENS)",
    ]
    dataset = load_beir(data_dir, "test")
    index = LensIndex(LensConfig(encoder={"model": "fake:hash", "doc_max_length": 64}, n_clusters=16))
    index.build(dataset.docs)
    ranked = {q: [h.doc_id for h in index.search([text], k=100)[0]] for q, text in dataset.queries.items()}
    assert rows["64 tokens, 16 clusters (LENS)"]["ndcg_at_10"] == quality(ranked, dataset)["ndcg_at_10"]
    assert len(list((tmp_path / "runs" / "lens-sweep").glob("*.npy"))) == 2  # queries, documents
    assert "| 64 tokens, 16 clusters (LENS) |" in capsys.readouterr().out
