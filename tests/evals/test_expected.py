"""The pinned reference scores file: it parses, every row cites a source, lookups and checks work."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.expected import expected_for, load_expected
from indexers.configs import BM25Config, DenseConfig, ExactConfig


def test_packaged_file_parses_with_sources() -> None:
    rows = load_expected()
    assert {(r.kind, r.dataset, r.split) for r in rows} >= {
        ("bm25", "scifact", "dev"),
        ("dense", "scifact", "dev"),
        ("exact", "scifact", "dev"),
    }
    assert all(r.source.strip() and r.scores() for r in rows)


def test_lookup_matches_the_full_config() -> None:
    row = expected_for(BM25Config(k1=0.9, b=0.4), "scifact", "dev")
    assert row is not None and row.scores() == {"ndcg_at_10": 0.698, "recall_at_100": 0.920}
    assert expected_for(BM25Config(k1=1.2, b=0.75), "scifact", "dev") is None
    assert expected_for(ExactConfig(), "scifact", "test") is None
    assert expected_for(DenseConfig(encoder={"model": "fake:hash"}), "scifact", "dev") is None


def test_check_reports_only_metrics_outside_tolerance() -> None:
    row = expected_for(BM25Config(), "scifact", "dev")
    assert row is not None
    assert row.check({"ndcg_at_10": 0.705, "recall_at_100": 0.911, "mrr_at_10": 0.1}) == []
    problems = row.check({"ndcg_at_10": 0.650, "recall_at_100": 0.920})
    assert len(problems) == 1 and "ndcg_at_10: got 0.6500, expected 0.6980 ± 0.01" in problems[0]


def test_malformed_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    path.write_text(
        '[[row]]\nkind = "bm25"\ndataset = "x"\nsplit = "dev"\nndcg_at_10 = 0.5\ntolerance = 0.01\n'
    )
    with pytest.raises(ValueError, match="source"):
        load_expected(path)
    path.write_text(
        '[[row]]\nkind = "bm25"\ndataset = "x"\nsplit = "dev"\nconfig = { k1 = -1 }\n'
        'ndcg_at_10 = 0.5\ntolerance = 0.01\nsource = "test"\n'
    )
    with pytest.raises(ValueError, match="k1"):
        load_expected(path)
