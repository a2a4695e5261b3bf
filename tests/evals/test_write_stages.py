"""The write-stages benchmark: both ways of pooling and of PQ coding agree, and are timed."""

from __future__ import annotations

import numpy as np

from benchmarks.write_stages import markdown, measure


def test_both_ways_agree_and_every_round_is_reported() -> None:
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((int(n), 48)).astype(np.float32) for n in rng.integers(20, 80, 40)]
    docs = [d / np.linalg.norm(d, axis=1, keepdims=True) for d in docs]
    rows = measure(docs, rounds=2)
    assert [r["round"] for r in rows] == [0, 1]
    for row in rows:
        assert row["documents"] == 40 and row["pq_m"] == 8  # 6 dimensions a code
        assert row["pooling_identical"] and row["pq_codes_agree"] > 0.999
        assert min(row["pool_serial_s"], row["pool_threaded_s"], row["pq_faiss_s"], row["pq_compiled_s"]) > 0
    assert markdown(rows, ["note"]).count("| True |") == 2
