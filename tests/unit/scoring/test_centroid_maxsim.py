"""centroid_maxsim: the compiled look-up MaxSim equals NumPy's gather and reduceat, and runs off the GIL."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from indexers.scoring.centroid_maxsim import centroid_maxsim, centroid_table, probed_candidates


def reference(sims: np.ndarray, codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    out = np.full(len(starts) - 1, -np.inf, dtype=np.float32)
    for s in range(len(starts) - 1):
        if starts[s + 1] > starts[s]:
            out[s] = sims[:, codes[starts[s] : starts[s + 1]]].max(axis=1).sum()
    return out


@pytest.mark.parametrize("code_dtype", [np.int32, np.int64, np.uint16])
def test_equals_the_numpy_gather_and_reduceat(code_dtype: type) -> None:
    rng = np.random.default_rng(0)
    sims = rng.standard_normal((7, 50)).astype(np.float32)
    lengths = rng.integers(0, 6, size=40)
    lengths[[0, 13, 39]] = 0  # empty segments first, inside and last
    starts = np.r_[0, np.cumsum(lengths)]
    codes: np.ndarray = rng.integers(0, 50, size=int(starts[-1])).astype(code_dtype)
    got = centroid_maxsim(centroid_table(sims), codes, starts)
    assert got.dtype == np.float32 and got.shape == (40,)
    np.testing.assert_allclose(got, reference(sims, codes, starts), rtol=1e-6)
    assert np.isneginf(got[[0, 13, 39]]).all()


def test_no_segments_and_no_query_tokens() -> None:
    sims = np.zeros((3, 4), dtype=np.float32)
    assert centroid_maxsim(centroid_table(sims), np.zeros(0, dtype=np.int32), np.array([0])).shape == (0,)
    assert centroid_maxsim(
        centroid_table(np.zeros((0, 4), np.float32)), np.array([1, 2]), np.array([0, 2])
    ).tolist() == [0.0]


def test_concurrent_calls_agree_with_a_lone_call() -> None:
    rng = np.random.default_rng(1)
    sims = rng.standard_normal((32, 300)).astype(np.float32)
    starts = np.r_[0, np.cumsum(rng.integers(1, 60, size=2000))]
    codes = rng.integers(0, 300, size=int(starts[-1]))
    alone = centroid_maxsim(centroid_table(sims), codes, starts)
    results: list[np.ndarray] = []

    def score() -> None:
        results.append(centroid_maxsim(centroid_table(sims), codes, starts))

    threads = [threading.Thread(target=score) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(np.array_equal(r, alone) for r in results)


def test_probed_candidates_score_the_live_documents_of_the_probed_lists_over_segments() -> None:
    from indexers.storage.residual import posting_lists

    rng = np.random.default_rng(2)
    sims = rng.standard_normal((5, 12)).astype(np.float32)
    offsets = np.r_[0, np.cumsum(rng.integers(1, 7, size=30))]  # 30 documents
    codes = rng.integers(0, 12, size=int(offsets[-1]))
    alive = rng.random(30) > 0.2
    split_doc = 17  # two segments: documents 0-16 and 17-29
    split_row = int(offsets[split_doc])
    postings = []
    for first, last in ((0, split_row), (split_row, len(codes))):
        starts, rows = posting_lists(codes[first:last], 12)
        postings.append((starts, rows + first))
    probed = np.array([1, 4, 7, 10])
    docs, scores = probed_candidates(centroid_table(sims), probed, postings, offsets, alive)

    expected_docs, expected_scores = [], []
    for doc in range(30):
        doc_rows = [r for r in range(offsets[doc], offsets[doc + 1]) if codes[r] in probed]
        if alive[doc] and doc_rows:
            expected_docs.append(doc)
            expected_scores.append(sims[:, codes[doc_rows]].max(axis=1).sum())
    assert docs.tolist() == expected_docs
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    empty = probed_candidates(centroid_table(sims), probed, postings, offsets, np.zeros(30, dtype=bool))
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
