"""ResidualCodec: exact bit packing, bounded round-trip error, posting lists, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.errors import CorruptIndex, InvalidConfig
from indexers.storage.centroid_assign import COARSE_FROM
from indexers.storage.residual import ResidualCodec, auto_num_centroids, posting_lists


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("nbits", [2, 4])
def test_packing_is_exact(nbits: int) -> None:
    codec = ResidualCodec.fit(unit_vectors(256, 16), 8, nbits)
    buckets = np.random.default_rng(1).integers(0, 2**nbits, size=(50, 16)).astype(np.uint8)
    packed = codec.pack(buckets)
    assert packed.shape == (50, 16 * nbits // 8) and packed.dtype == np.uint8
    assert np.array_equal(codec.unpack(packed), buckets)


@pytest.mark.parametrize("nbits", [2, 4])
def test_round_trip_error_is_bounded_and_shrinks_with_bits(nbits: int) -> None:
    data = unit_vectors(4000, 32)
    codec = ResidualCodec.fit(data, 64, nbits)
    codes, packed = codec.encode(data)
    decoded = codec.decode(codes, packed)
    centroid_only = codec.centroids[codes]
    err = np.linalg.norm(decoded - data, axis=1).mean()
    assert err < 0.7 * np.linalg.norm(centroid_only - data, axis=1).mean()
    cosine = np.sum(decoded * data, axis=1) / np.linalg.norm(decoded, axis=1)
    assert cosine.mean() > (0.97 if nbits == 4 else 0.85)


def test_decode_matches_bucket_weights() -> None:
    data = unit_vectors(500, 16)
    codec = ResidualCodec.fit(data, 8, 4)
    codes, packed = codec.encode(data[:10])
    expected = codec.centroids[codes] + codec.weights[np.arange(16), codec.unpack(packed)]
    assert np.allclose(codec.decode(codes, packed), expected)


def test_posting_lists_cover_every_row_once() -> None:
    codes = np.array([3, 0, 3, 1, 0, 3], dtype=np.int32)
    starts, rows = posting_lists(codes, 5)
    assert starts.tolist() == [0, 2, 3, 3, 6, 6]
    assert sorted(rows.tolist()) == list(range(6))
    assert all((codes[rows[starts[c] : starts[c + 1]]] == c).all() for c in range(5))


def test_save_load_and_corruption(tmp_path: Path) -> None:
    data = unit_vectors(300, 16)
    codec = ResidualCodec.fit(data, 8, 2)
    codec.save(tmp_path)
    loaded = ResidualCodec.load(tmp_path)
    assert np.array_equal(loaded.decode(*loaded.encode(data)), codec.decode(*codec.encode(data)))
    (tmp_path / "residual_codec.npz").write_bytes(b"junk")
    with pytest.raises(CorruptIndex):
        ResidualCodec.load(tmp_path)


def test_rejects_bad_settings() -> None:
    with pytest.raises(InvalidConfig):
        ResidualCodec.fit(unit_vectors(300, 16), 8, 3)
    with pytest.raises(InvalidConfig):
        ResidualCodec.fit(unit_vectors(4, 16), 8, 2)


def test_auto_num_centroids_scales_with_sqrt() -> None:
    assert auto_num_centroids(10) == 10
    assert auto_num_centroids(100_000) == 4096
    assert auto_num_centroids(400_000) == 8192


def test_reduce_dim_projects_documents_and_queries(tmp_path: Path) -> None:
    basis = unit_vectors(8, 64, seed=3)
    data = np.random.default_rng(4).standard_normal((2000, 8)).astype(np.float32) @ basis  # rank 8
    codec = ResidualCodec.fit(data, 16, 4, reduce_dim=16)
    assert codec.dim == 16 and codec.project(data[:3]).shape == (3, 16)
    decoded = codec.decode(*codec.encode(data[:200]))
    exact = data[:5] @ data[:200].T
    assert np.abs(codec.project(data[:5]) @ decoded.T - exact).mean() < 0.2 * np.abs(exact).mean()
    codec.save(tmp_path)
    assert np.array_equal(ResidualCodec.load(tmp_path).projection, codec.projection)


def test_product_quantised_residuals_beat_scalar_codes_at_equal_bytes(tmp_path: Path) -> None:
    data = unit_vectors(6000, 32)
    scalar = ResidualCodec.fit(data, 64, 2)  # 8 bytes per vector
    pq = ResidualCodec.fit(data, 64, 2, pq_m=8)  # 8 one-byte codes of 4 dimensions
    assert pq.packed_width == scalar.packed_width == 8 and pq.pq_m == 8 and scalar.pq_m is None
    codes, packed = pq.encode(data)
    assert codes.dtype == np.uint16 and packed.shape == (6000, 8)
    err = {
        name: np.linalg.norm(codec.decode(*codec.encode(data)) - data, axis=1).mean()
        for name, codec in (("scalar", scalar), ("pq", pq))
    }
    assert err["pq"] < 0.9 * err["scalar"]
    pq.save(tmp_path)
    loaded = ResidualCodec.load(tmp_path)
    assert loaded.pq_m == 8 and np.array_equal(
        loaded.decode(*loaded.encode(data[:50])), pq.decode(codes[:50], packed[:50])
    )


def test_pq_m_must_divide_the_dimension() -> None:
    with pytest.raises(InvalidConfig, match="residual_pq_m"):
        ResidualCodec.fit(unit_vectors(3000, 32), 8, 4, pq_m=5)


@pytest.mark.parametrize("pq_m", [None, 8])
def test_inner_products_equal_the_decoded_vectors_times_the_query(pq_m: int | None) -> None:
    import indexers.storage.residual as residual

    data = unit_vectors(5000, 32)
    codec = ResidualCodec.fit(data, 64, 4, pq_m=pq_m)
    codes, packed = codec.encode(data)
    query = unit_vectors(5, 32, seed=3)
    expected = codec.decode(codes, packed) @ query.T
    chunk, residual.SCORE_CHUNK = residual.SCORE_CHUNK, 1000  # several chunks and a short last one
    try:
        assert np.allclose(codec.inner_products(query, codes, packed), expected, atol=1e-5)
        sims = query @ codec.centroids.T
        assert np.allclose(codec.inner_products(query, codes, packed, sims), expected, atol=1e-5)
    finally:
        residual.SCORE_CHUNK = chunk


def test_encoding_in_chunks_gives_the_codes_of_one_pass() -> None:
    import indexers.storage.residual as residual

    data = unit_vectors(3000, 32)
    codec = ResidualCodec.fit(data, 64, 4, pq_m=8)
    whole = codec.encode(data)
    chunk, residual.ENCODE_CHUNK = residual.ENCODE_CHUNK, 700
    try:
        chunked = codec.encode(data)
    finally:
        residual.ENCODE_CHUNK = chunk
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])
    assert whole[0].dtype == np.uint16 and whole[1].shape == (3000, 8)


def test_many_centroids_are_assigned_coarse_to_fine_at_exact_fidelity() -> None:
    rng = np.random.default_rng(3)
    modes = rng.standard_normal((40, 24))
    data = modes[rng.integers(0, 40, 20_000)] + 0.5 * rng.standard_normal((20_000, 24))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    codec = ResidualCodec.fit(data, COARSE_FROM, 4, pq_m=8, iterations=4)
    assert codec.assigner.coarse
    codes, packed = codec.encode(data)
    error = np.linalg.norm(codec.decode(codes, packed) - data, axis=1).mean()
    codec.assign_probe = 0
    exact_codes, exact_packed = codec.encode(data)
    assert not codec.assigner.coarse
    exact_error = np.linalg.norm(codec.decode(exact_codes, exact_packed) - data, axis=1).mean()
    assert (codes == exact_codes).mean() > 0.9
    assert error < 1.05 * exact_error
