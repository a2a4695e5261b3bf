"""The search-settings sweep over a saved index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.search_sweep import main, parse_grid
from evals.datasets import load_beir
from indexers import create_index, parse_config
from indexers.storage.versions import save_version

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    config = {
        "kind": "colbert_pooled",
        "encoder": {"model": "fake:hash:64"},
        "residual_min_vectors": 64,
        "num_centroids": 32,
        "pool_factor": 1,
        "residual_pq_m": 8,
    }
    index = create_index(parse_config(config))
    index.build(load_beir(DATA, "test").docs)
    save_version(index, folder, "haystack")
    return folder


def test_grid_is_every_combination_in_order() -> None:
    assert parse_grid(["nprobe=1,8", "centroid_docs=4"]) == [
        {"nprobe": 1, "centroid_docs": 4},
        {"nprobe": 8, "centroid_docs": 4},
    ]
    with pytest.raises(ValueError, match="KEY=V1"):
        parse_grid(["nprobe"])


def test_each_setting_is_searched_and_compared_with_the_first(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["--data", str(DATA), "--split", "test", "--index", str(root / "haystack")]
    assert main([*args, "--grid", "nprobe=1,16", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["settings"] for r in rows] == [{"nprobe": 1}, {"nprobe": 16}]
    # one probed list of 32 per query token reaches fewer documents than all of them
    assert rows[0]["hits_mean"] < rows[1]["hits_mean"] == 20
    assert "paired" not in rows[0] and rows[1]["paired"]["wins"] >= 0
    assert 0 < rows[1]["p50_ms"] <= rows[1]["p95_ms"]
    assert "nprobe=16" in out.with_suffix(".md").read_text()
