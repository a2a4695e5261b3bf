"""Benchmark jobs over the index kinds: BEIR loading, ranking metrics, pinned reference scores.

The BEIR runner lives in `evals.beir` (`run()`, and `python -m evals.beir`); it is not imported
here so that the command line starts cleanly.
"""

from __future__ import annotations

from evals.datasets import BeirDataset, DatasetError, load_beir
from evals.expected import Expected, expected_for, load_expected
from evals.metrics import mean_metric, mrr_at_k, ndcg_at_k, recall_at_k

__all__ = [
    "BeirDataset",
    "DatasetError",
    "Expected",
    "expected_for",
    "load_beir",
    "load_expected",
    "mean_metric",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
]
