"""Nearest-centroid assignment: exact below COARSE_FROM centroids, coarse-to-fine from there."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.configs import PooledColBERTConfig, XTRConfig
from indexers.storage.centroid_assign import COARSE_FROM, DEFAULT_PROBE, CentroidAssigner, nearest_exact


def clustered(rng: np.random.Generator, n: int, dim: int = 48, modes: int = 64) -> np.ndarray:
    """Unit vectors around `modes` directions, as token vectors cluster."""
    centres = rng.standard_normal((modes, dim))
    x = centres[rng.integers(0, modes, n)] + 0.6 * rng.standard_normal((n, dim))
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = clustered(rng, 30_000)
    return vectors[:COARSE_FROM], vectors[COARSE_FROM:]


def test_few_centroids_are_searched_exactly(data: tuple[np.ndarray, np.ndarray]) -> None:
    centroids, vectors = data
    assigner = CentroidAssigner(centroids[:500])
    assert not assigner.coarse
    np.testing.assert_array_equal(assigner.nearest(vectors), np.argmax(vectors @ centroids[:500].T, axis=1))


def test_coarse_assignment_mostly_agrees_and_never_beats_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    centroids, vectors = data
    assigner = CentroidAssigner(centroids)
    assert assigner.coarse
    exact, coarse = nearest_exact(centroids, vectors), assigner.nearest(vectors)
    assert coarse.dtype == np.int32 and coarse.shape == (len(vectors),)
    assert (coarse == exact).mean() > 0.95
    best = np.einsum("nd,nd->n", vectors, centroids[exact])
    got = np.einsum("nd,nd->n", vectors, centroids[coarse])
    assert np.all(got <= best + 1e-6)
    assert (best - got).mean() < 0.01


def test_probing_every_group_or_none_is_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    centroids, vectors = data
    exact = nearest_exact(centroids, vectors)
    everything = CentroidAssigner(centroids, probe=len(centroids))
    assert everything.coarse
    np.testing.assert_array_equal(everything.nearest(vectors), exact)
    none = CentroidAssigner(centroids, probe=0)
    assert not none.coarse
    np.testing.assert_array_equal(none.nearest(vectors), exact)


def test_kind_configs_default_to_the_library_default() -> None:
    assert PooledColBERTConfig().residual_assign_groups == XTRConfig().residual_assign_groups == DEFAULT_PROBE
