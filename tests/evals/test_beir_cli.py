"""`evals.beir` on the 20-document folder: run(), the CLI's JSON and table, and its error exits."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

import evals.beir
from evals.beir import build_config, main, run
from evals.datasets import load_beir
from indexers.configs import DenseConfig, ExactConfig, PooledColBERTConfig, parse_config
from indexers.errors import InvalidConfig, InvalidInput
from indexers.registry import KINDS, open_index

# kinds with a text encoder (the fake one runs here); bm25 starts a JVM: see the slow test
ENCODER_KINDS = sorted(kind for kind in KINDS if "encoder" in type(parse_config({"kind": kind})).model_fields)
SLOW_CLI_KINDS = {"slim", "lens"}  # slim starts a JVM, lens clusters the vocabulary (16,384 clusters)


def _cli(tmp_path: Path, data_dir: Path, kind: str, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "runs"
    args = ["--data", str(data_dir), "--split", "test", "--kind", kind, "--out", str(out), *extra]
    return main(args), out


def _check_result(result: dict, num_vectors_expected: bool) -> None:
    assert (result["dataset"], result["split"], result["num_docs"], result["num_queries"]) == (
        "data",
        "test",
        20,
        10,
    )
    for metric in ("ndcg_at_10", "recall_at_100", "mrr_at_10"):
        assert 0.0 <= result[metric] <= 1.0
    # The tiny set is easy: each query shares its key words with its one relevant document.
    assert result["ndcg_at_10"] > 0.8
    assert result["recall_at_100"] == 1.0  # 20 documents, k = 100: every relevant one comes back
    assert result["index_bytes"] > 0 and result["bytes_per_doc"] == pytest.approx(result["index_bytes"] / 20)
    assert result["build_docs_per_s"] > 0
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p95"]
    assert result["latency_ms_mean"] > 0 and result["peak_rss_mb"] > 10
    if num_vectors_expected:
        assert result["num_vectors"] >= 20


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_CLI_KINDS else k for k in ENCODER_KINDS]
)
def test_cli_writes_json_and_table(kind: str, tmp_path: Path, data_dir: Path, capsys) -> None:
    code, out = _cli(tmp_path, data_dir, kind, "--set", "encoder.model=fake:hash")
    assert code == 0
    files = list(out.glob("*.json"))
    assert [f.name for f in files] == [f"data-test-{kind}_encoder.model=fake_hash.json"]
    result = json.loads(files[0].read_text())
    assert result["label"] == f"{kind} encoder.model=fake:hash"
    assert result["config"]["encoder"]["model"] == "fake:hash"
    _check_result(result, num_vectors_expected=kind not in ("dense", "lens"))
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| kind/config | nDCG@10 | Recall@100 | MRR@10 |")
    assert table[2].startswith(f"| {kind} encoder.model=fake:hash | {result['ndcg_at_10']:.3f} |")


@pytest.mark.slow
def test_cli_bm25(tmp_path: Path, data_dir: Path) -> None:
    code, out = _cli(tmp_path, data_dir, "bm25", "--out", str(tmp_path / "bm25.json"))
    assert code == 0
    _check_result(json.loads((tmp_path / "bm25.json").read_text()), num_vectors_expected=False)


def test_run_keeps_a_reopenable_index(tmp_path: Path, data_dir: Path) -> None:
    dataset = load_beir(data_dir, "test", limit_docs=5)
    config = ExactConfig(encoder={"model": "fake:hash"})
    seen: list[tuple[int, int]] = []
    result = run(
        config,
        dataset,
        index_dir=tmp_path / "index",
        label="mine",
        search_progress=lambda d, t: seen.append((d, t)),
    )
    assert (result.label, result.num_docs, result.num_queries, result.limit_docs) == ("mine", 5, 4, 5)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    reopened = open_index(tmp_path / "index")
    assert reopened.num_docs == 5
    assert result.index_bytes == sum(p.stat().st_size for p in (tmp_path / "index").rglob("*") if p.is_file())
    with pytest.raises(InvalidInput, match="not empty"):
        run(config, dataset, index_dir=tmp_path / "index")


def test_bad_kind_exits_2_with_message(tmp_path: Path, data_dir: Path, capsys) -> None:
    code, out = _cli(tmp_path, data_dir, "nosuch")
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown index kind 'nosuch'; known kinds: " in err and "exact" in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pool_factor", "bad override 'pool_factor': expected key=value"),
        ("pool_factor=99", "pool_factor: Input should be less than or equal to 8"),
        ("no_such_field=1", "no_such_field: Extra inputs are not permitted"),
        ("pool_factor.x=1", "'pool_factor' is a value, not a section"),
    ],
)
def test_bad_override_exits_2(override: str, message: str, tmp_path: Path, data_dir: Path, capsys) -> None:
    code, _ = _cli(tmp_path, data_dir, "colbert_pooled", "--set", "pool_factor=3", "--set", override)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_split_and_arguments_exit_2(tmp_path: Path, data_dir: Path, capsys) -> None:
    code = main(["--data", str(data_dir), "--split", "dev", "--kind", "exact"])
    assert code == 2
    assert "available splits: test" in capsys.readouterr().err
    assert main(["--split", "test", "--kind", "exact"]) == 2  # --data missing: argparse usage error
    assert "--data" in capsys.readouterr().err


def test_build_config_overrides_and_file(tmp_path: Path) -> None:
    config = build_config(
        "colbert_pooled", overrides=["pool_factor=3", "encoder.quantize=int8", "encoder.model=fake:hash:16"]
    )
    assert config == PooledColBERTConfig(pool_factor=3, encoder={"quantize": "int8", "model": "fake:hash:16"})
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"kind": "dense", "ann": "hnsw", "encoder": {"batch_size": 4}}))
    config = build_config(None, base, ["encoder.model=fake:hash", "ef_search=64"])
    assert config == DenseConfig(ann="hnsw", ef_search=64, encoder={"batch_size": 4, "model": "fake:hash"})
    with pytest.raises(InvalidConfig, match="--kind exact contradicts kind 'dense'"):
        build_config("exact", base)
    with pytest.raises(InvalidConfig, match="no index kind"):
        build_config(None)
    base.write_text("[1, 2]")
    with pytest.raises(InvalidConfig, match="must hold a JSON object"):
        build_config(None, base)


def test_doctests_pass() -> None:
    assert doctest.testmod(evals.beir).failed == 0


def test_sample_docs_keeps_the_judged_documents(tmp_path: Path, data_dir: Path) -> None:
    code, out = _cli(tmp_path, data_dir, "exact", "--set", "encoder.model=fake:hash", "--sample-docs", "12")
    assert code == 0
    (path,) = out.glob("*.json")
    result = json.loads(path.read_text())
    assert (result["num_docs"], result["num_queries"], result["limit_docs"]) == (12, 10, 12)
    assert result["recall_at_100"] == 1.0  # every judged document is in the sample
    assert _cli(tmp_path, data_dir, "exact", "--limit-docs", "5", "--sample-docs", "12")[0] == 2
