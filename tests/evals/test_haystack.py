"""The haystack benchmark's distractors, its precomputed-vector encoder and its growth fit."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.haystack import Distractors, HaystackEncoder, fit_growth, paired_lines
from indexers.models.encoders import TokenEmbeddings
from indexers.storage.token_store import TokenStore

LENGTHS = (2, 5, 9)


@pytest.fixture
def pool() -> TokenStore:
    """Three real documents of 2, 5 and 9 unit vectors (dimension 8) with distinct token ids."""
    rng = np.random.default_rng(7)
    store = TokenStore(8)
    vectors = [rng.standard_normal((n, 8)).astype(np.float32) for n in LENGTHS]
    vectors = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in vectors]
    first = np.cumsum((0,) + LENGTHS)
    store.append(vectors, [np.arange(first[i], first[i + 1], dtype=np.int32) + 100 for i in range(3)])
    return store


def test_distractors_are_deterministic_and_drawn_from_the_pool(pool: TokenStore) -> None:
    made = [Distractors(pool, seed=3).tokens(i) for i in range(40)]
    again = Distractors(pool, seed=3).tokens(17)
    np.testing.assert_array_equal(made[17].vectors, again.vectors)
    np.testing.assert_array_equal(made[17].token_ids, again.token_ids)
    other = Distractors(pool, seed=4).tokens(17)
    assert not np.array_equal(other.token_ids, made[17].token_ids)  # another seed, another document
    rows = pool.decode(pool.rows[np.arange(pool.num_vectors)])
    assert {len(m.vectors) for m in made} == set(LENGTHS)  # lengths are real documents' lengths
    for m in made:
        for vector, token_id in zip(m.vectors, m.token_ids, strict=True):
            row = int(token_id) - 100  # the token id names the pool row: vector and id travel together
            np.testing.assert_array_equal(vector, rows[row])


def test_encoder_returns_cached_generated_and_query_vectors(pool: TokenStore) -> None:
    query = TokenEmbeddings(np.ones((2, 8), dtype=np.float32), np.array([1, 2], dtype=np.int32))
    encoder = HaystackEncoder(pool, ["a", "b", "c"], {"q": query}, seed=3)
    real, fake = encoder.encode(["c", "haystack:5"], is_query=False)
    np.testing.assert_array_equal(real.vectors, pool.doc_vectors(2))
    np.testing.assert_array_equal(fake.token_ids, Distractors(pool, seed=3).tokens(5).token_ids)
    assert encoder.encode(["q"], is_query=True)[0] is query
    assert encoder.seconds > 0


def test_fit_growth_recovers_a_power_law() -> None:
    a, b = fit_growth([1e4, 1e5, 1e6], [3 * n**0.5 for n in (1e4, 1e5, 1e6)])  # type: ignore[misc]
    assert (a, b) == pytest.approx((3, 0.5))
    assert fit_growth([1e4], [1.0]) is None
    assert fit_growth([1e4, 1e5], [0.0, 1.0]) is None


def test_paired_lines_compare_our_side_with_each_peer_at_its_size() -> None:
    ours = {"system": "colbert_pooled", "docs": 100, "ndcg_per_query": {"q1": 1.0, "q2": 0.5, "q3": 0.2}}
    peer = {"system": "PLAID", "docs": 100, "ndcg_per_query": {"q1": 0.5, "q2": 0.5, "q3": 0.4}}
    other_size = {"system": "PLAID", "docs": 200, "ndcg_per_query": {"q1": 0.0, "q2": 0.0, "q3": 0.0}}
    sentence, blank, table = paired_lines([ours, peer, other_size])
    assert sentence.startswith("Paired per query") and blank == ""
    (row,) = table.splitlines()[2:]  # one comparison: the 200-doc PLAID row has no ours at its size
    assert row.startswith("| colbert_pooled at 100 docs | PLAID at 100 docs | +0.1000 | 1 / 1 / 1 | ")
    assert paired_lines([ours, other_size]) == []
