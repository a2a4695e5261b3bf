"""The compiled product-quantiser encoder against FAISS's."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from indexers.storage.faiss_lib import load_faiss
from indexers.storage.pq_codes import PQEncoder


@cache
def _trained(dim: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(dim + m)
    x = (rng.standard_normal((3000, dim)) * 0.1).astype(np.float32)
    pq = load_faiss().ProductQuantizer(dim, m, 8)
    pq.train(x)
    return x, load_faiss().vector_to_array(pq.centroids).reshape(m, 256, dim // m)


@pytest.mark.parametrize(("dim", "m"), [(384, 64), (96, 32), (60, 10)])
def test_compiled_codes_are_faiss_codes(dim: int, m: int) -> None:
    x, books = _trained(dim, m)
    faiss_codes = PQEncoder(books, compiled=False).encode(x)
    # more rows than one task, so several threads write their own slices
    compiled = PQEncoder(books, threads=3, compiled=True).encode(np.tile(x, (3, 1)))
    assert compiled.dtype == np.uint8 and compiled.shape == (3 * len(x), m)
    assert (compiled[: len(x)] == faiss_codes).mean() > 0.9999
    assert np.array_equal(np.tile(compiled[: len(x)], (3, 1)), compiled)


def test_codes_are_the_nearest_sub_centroids() -> None:
    x, books = _trained(384, 64)
    x = x[:50]
    codes = PQEncoder(books, compiled=True).encode(x)
    sub = x.reshape(len(x), 64, 6)
    distances = ((sub[:, :, None, :] - books[None]) ** 2).sum(-1)
    chosen = np.take_along_axis(distances, codes[..., None].astype(np.int64), axis=2)[..., 0]
    assert np.all(chosen <= distances.min(axis=2) + 1e-6)


def test_faiss_is_used_where_it_has_a_kernel() -> None:
    _, books = _trained(64, 8)  # sub-vectors of 8
    assert PQEncoder(books)._faiss is not None
    _, books = _trained(384, 64)  # sub-vectors of 6
    assert PQEncoder(books)._faiss is None


def test_rejects_mismatched_shapes() -> None:
    _, books = _trained(96, 32)
    with pytest.raises(ValueError, match="vectors must be"):
        PQEncoder(books, compiled=True).encode(np.zeros((3, 95), np.float32))
    with pytest.raises(ValueError, match="codebooks must be"):
        PQEncoder(books[:, :100])
