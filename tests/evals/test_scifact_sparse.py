"""SciFact dev regressions for slim and lens on the benchmark's subsample (slow, minutes each).

The pinned rows (`dataset = "scifact-sample2000"` in `evals/expected.toml`) were measured on the
subsample `evals.datasets.sample_docs` makes: every document judged for the dev queries, then the
corpus in file order up to 2,000 documents. The lineup reruns them: `python -m benchmarks.run
benchmarks/lineups/sparse.toml --data ../shared/data/scifact --split dev --sample-docs 2000`.
Run with `pytest -m slow tests/evals/test_scifact_sparse.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.beir import run
from evals.datasets import load_beir, sample_docs
from evals.expected import Expected, load_expected

SCIFACT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "scifact"
SAMPLE = 2000
ROWS = [row for row in load_expected() if (row.dataset, row.split) == (f"scifact-sample{SAMPLE}", "dev")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "row", ROWS, ids=lambda row: "-".join([row.kind, *(f"{k}={v}" for k, v in sorted(row.config.items()))])
)
def test_sampled_scifact_dev_matches_expected(row: Expected, tmp_path: Path) -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact data folder absent: {SCIFACT}")
    dataset = sample_docs(load_beir(SCIFACT, "dev"), SAMPLE)
    assert (len(dataset.docs), len(dataset.queries)) == (SAMPLE, 150)
    result = run(row.index_config(), dataset, index_dir=tmp_path / "index")
    assert row.check(result.model_dump()) == []
