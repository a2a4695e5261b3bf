"""The packaged MiniLM behind the late-interaction kinds, on the 20-document corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexers import Doc, create_index, parse_config


@pytest.fixture(scope="module")
def tiny_queries(data_dir: Path) -> list[tuple[str, str]]:
    texts = {
        q["_id"]: q["text"] for q in map(json.loads, (data_dir / "queries.jsonl").read_text().splitlines())
    }
    rows = (data_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]
    return [(texts[qid], doc_id) for qid, doc_id, _ in (r.split("\t") for r in rows)]


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "exact"},
        {"kind": "colbert_pooled", "pool_factor": 2},
        {"kind": "colbert_pooled", "pool_factor": 4, "encoder": {"quantize": "int8"}},
    ],
)
def test_minilm_late_interaction_finds_each_relevant_document(
    config: dict,  # type: ignore[type-arg]
    tiny_docs: list[Doc],
    tiny_queries: list[tuple[str, str]],
) -> None:
    index = create_index(parse_config(config))
    index.build(tiny_docs)
    results = index.search([q for q, _ in tiny_queries], k=3)
    top1 = sum(hits[0].doc_id == want for hits, (_, want) in zip(results, tiny_queries, strict=True))
    top3 = sum(
        want in {h.doc_id for h in hits} for hits, (_, want) in zip(results, tiny_queries, strict=True)
    )
    assert top1 >= 9 and top3 == 10
