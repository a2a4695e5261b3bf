"""Hierarchical token pooling on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.scoring.pooling import pool_documents, pool_tokens


def unit(rows: list[list[float]]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_pool_factor_one_is_identity() -> None:
    x = unit([[1, 0], [0, 1], [1, 1]])
    pooled = pool_tokens(x, 1)
    assert np.array_equal(pooled.vectors, x)
    assert pooled.assignment.tolist() == [0, 1, 2]


def test_near_duplicates_merge_and_means_are_renormalised() -> None:
    x = unit([[1, 0.01], [1, -0.01], [0.01, 1], [-0.01, 1]])
    pooled = pool_tokens(x, 2)
    assert pooled.vectors.shape == (2, 2)
    assert np.linalg.norm(pooled.vectors, axis=1) == pytest.approx([1.0, 1.0])
    a = pooled.assignment
    assert a[0] == a[1] and a[2] == a[3] and a[0] != a[2]
    merged = {tuple(np.round(v, 4)) for v in pooled.vectors}
    assert merged == {(1.0, 0.0), (0.0, 1.0)}


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_vector_count_follows_pool_factor(factor: int) -> None:
    x = unit(np.random.default_rng(0).standard_normal((60, 16)).tolist())
    pooled = pool_tokens(x, factor)
    assert len(pooled.vectors) == 60 // factor
    assert pooled.assignment.shape == (60,)
    assert set(pooled.assignment.tolist()) == set(range(len(pooled.vectors)))


def test_representative_is_the_member_closest_to_its_cluster_mean() -> None:
    x = unit([[1, 0], [1, 0.2], [0, 1], [0.1, 1]])
    pooled = pool_tokens(x, 2)
    for cluster, rep in enumerate(pooled.representatives):
        members = np.nonzero(pooled.assignment == cluster)[0]
        sims = x[members] @ pooled.vectors[cluster]
        assert rep == members[sims.argmax()]


def test_tiny_documents_are_left_alone() -> None:
    x = unit([[1, 0], [0, 1]])
    assert len(pool_tokens(x, 4).vectors) == 2


def test_pooling_many_documents_on_threads_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    docs = [unit(rng.standard_normal((int(n), 32)).tolist()) for n in rng.integers(1, 80, 40)]
    pooled = pool_documents(docs, 2)
    assert len(pooled) == len(docs)
    for doc, many in zip(docs, pooled, strict=True):
        one = pool_tokens(doc, 2)
        np.testing.assert_array_equal(many.vectors, one.vectors)
        np.testing.assert_array_equal(many.assignment, one.assignment)
        np.testing.assert_array_equal(many.representatives, one.representatives)
