"""SciFact dev regressions: `evals.beir.run` per pinned row of `evals/expected.toml` (slow, minutes each).

Run with `pytest -m slow tests/evals/test_scifact.py` (`-k bm25` for the quickest row). Needs the
BEIR SciFact folder at `../shared/data/scifact` next to the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.beir import run
from evals.datasets import load_beir
from evals.expected import Expected, load_expected

SCIFACT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "scifact"
ROWS = [row for row in load_expected() if (row.dataset, row.split) == ("scifact", "dev")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "row", ROWS, ids=lambda row: "-".join([row.kind, *(f"{k}={v}" for k, v in sorted(row.config.items()))])
)
def test_scifact_dev_matches_expected(row: Expected, tmp_path: Path) -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(
            f"SciFact data folder absent: {SCIFACT} (BEIR layout: corpus.jsonl, queries.jsonl, qrels/)"
        )
    dataset = load_beir(SCIFACT, "dev")
    assert (len(dataset.docs), len(dataset.queries)) == (5183, 150)
    result = run(row.index_config(), dataset, index_dir=tmp_path / "index")
    assert row.check(result.model_dump()) == []
