"""Benchmark jobs over the index kinds: dataset readers and samplers, ranking metrics, the report
writer, pinned reference scores.

The BEIR runner lives in `evals.beir` (`run()`, and `python -m evals.beir`); it is not imported
here so that the command line starts cleanly.
"""

from __future__ import annotations

from evals.datasets import (
    BeirDataset,
    DatasetError,
    load_beir,
    read_locomo,
    sample_docs,
    sample_queries,
    title_queries,
)
from evals.expected import Expected, expected_for, load_expected
from evals.metrics import mean_metric, mrr_at_k, ndcg_at_k, per_query, recall_at_k
from evals.report import markdown_table, write_json, write_report

__all__ = [
    "BeirDataset",
    "DatasetError",
    "Expected",
    "expected_for",
    "load_beir",
    "load_expected",
    "markdown_table",
    "mean_metric",
    "mrr_at_k",
    "ndcg_at_k",
    "per_query",
    "read_locomo",
    "recall_at_k",
    "sample_docs",
    "sample_queries",
    "title_queries",
    "write_json",
    "write_report",
]
