"""TokenStore: float16 and PQ codecs, gathering, memory-mapped reload, corruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.errors import CorruptIndex, InvalidConfig, UnsupportedOperation
from indexers.storage.token_store import ResidualSettings, TokenStore


def blocks(rng: np.random.Generator, sizes: list[int], dim: int) -> list[np.ndarray]:
    out = []
    for n in sizes:
        x = rng.standard_normal((n, dim)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def test_float16_roundtrip_and_gather(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = blocks(rng, [3, 1, 4], 8)
    store = TokenStore(8)
    store.append(vecs, [np.arange(len(v)) for v in vecs])
    assert store.num_vectors == 8 and store.num_slots == 3
    assert np.allclose(store.doc_vectors(2), vecs[2], atol=1e-3)
    gathered, offsets = store.gather(np.array([2, 0]))
    assert offsets.tolist() == [0, 4, 7]
    assert np.allclose(gathered[:4], vecs[2], atol=1e-3) and np.allclose(gathered[4:], vecs[0], atol=1e-3)
    assert store.doc_of(np.array([0, 2, 3, 7])).tolist() == [0, 0, 1, 2]
    sims, sim_offsets = store.similarities(vecs[1], np.array([2, 0]))
    assert sims.shape == (7, 1) and np.array_equal(sim_offsets, offsets)
    assert np.allclose(sims, gathered @ vecs[1].T, atol=1e-5)
    store.save(tmp_path)
    loaded = TokenStore.load(tmp_path, 8, "float16", 48)
    assert all(isinstance(a, np.memmap) for a in (loaded.rows, loaded.token_ids, loaded.offsets))
    assert np.array_equal(loaded.offsets, store.offsets)
    assert store.memory_bytes() > 0 and loaded.memory_bytes() == 0
    loaded.append(vecs[:1], [np.arange(3)])  # a new segment in memory; the saved one stays mapped
    assert 0 < loaded.memory_bytes() < store.memory_bytes() and len(loaded.segments) == 2
    assert np.allclose(loaded.doc_vectors(3), vecs[0], atol=1e-3)


def test_pq_codec_is_compact_and_close() -> None:
    rng = np.random.default_rng(1)
    vecs = blocks(rng, [800, 700], 32)
    store = TokenStore(32, "pq", pq_m=8)
    store.append(vecs, [np.zeros(len(v), dtype=np.int32) for v in vecs])
    assert store.rows.dtype == np.uint8 and store.rows.shape == (1500, 8)
    decoded = store.doc_vectors(0)
    cosine = (decoded * vecs[0]).sum(1) / np.linalg.norm(decoded, axis=1)
    assert cosine.mean() > 0.7


def test_pq_needs_enough_training_vectors_and_a_divisor() -> None:
    with pytest.raises(InvalidConfig, match="divide"):
        TokenStore(30, "pq", pq_m=8)
    store = TokenStore(32, "pq", pq_m=8)
    with pytest.raises(InvalidConfig, match="at least"):
        store.append(blocks(np.random.default_rng(2), [10], 32), [np.zeros(10, dtype=np.int32)])


def test_truncated_store_is_reported_corrupt(tmp_path: Path) -> None:
    store = TokenStore(4)
    store.append(blocks(np.random.default_rng(3), [5], 4), [np.zeros(5, dtype=np.int32)])
    store.save(tmp_path)
    np.save(tmp_path / "seg-0-token_ids.npy", np.zeros(2, dtype=np.int32))
    with pytest.raises(CorruptIndex):
        TokenStore.load(tmp_path, 4, "float16", 48)
    (tmp_path / "seg-0-rows.npy").unlink()
    with pytest.raises(CorruptIndex):
        TokenStore.load(tmp_path, 4, "float16", 48)


def test_residual_codec_store_add_save_load_and_postings(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vecs = blocks(rng, [40] * 30, 32)
    store = TokenStore(
        32, "residual", residual=ResidualSettings(bits=4, num_centroids=32, reduce_dim=16, min_vectors=0)
    )
    store.append(vecs[:20], [np.arange(len(v)) for v in vecs[:20]])
    store.append(vecs[20:], [np.arange(len(v)) for v in vecs[20:]])  # encoded against the fitted codec
    assert store.rows.shape == (1200, 8) and store.rows.dtype == np.uint8
    ((starts, rows),) = store.postings()
    assert starts[-1] == store.num_vectors and np.array_equal(np.sort(rows), np.arange(store.num_vectors))
    query = store.project(vecs[25][:3])
    exact = query @ store.project(vecs[25]).T
    assert np.abs(query @ store.doc_vectors(25).T - exact).max() < 0.3
    store.save(tmp_path)
    loaded = TokenStore.load(tmp_path, 32, "float16", 48)  # the folder's codec wins over the configured one
    assert loaded.codec == "residual" and isinstance(loaded.rows, np.memmap)
    assert np.array_equal(loaded.gather(np.array([3, 25]))[0], store.gather(np.array([3, 25]))[0])
    sims, offsets = loaded.similarities(query, np.array([25, 3]))
    vectors, _ = loaded.gather(np.array([25, 3]))
    assert offsets.tolist() == [0, 40, 80] and np.allclose(sims, vectors @ query.T, atol=1e-5)


def test_float16_folder_opens_when_residual_is_configured(tmp_path: Path) -> None:
    vecs = blocks(np.random.default_rng(6), [3, 2], 8)
    store = TokenStore(8)
    store.append(vecs, [np.arange(len(v)) for v in vecs])
    store.save(tmp_path)
    loaded = TokenStore.load(tmp_path, 8, "residual", 48)
    assert loaded.codec == "float16" and np.allclose(loaded.doc_vectors(1), vecs[1], atol=1e-3)


def test_residual_store_stays_float16_until_min_vectors_then_converts_every_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vecs = blocks(rng, [40] * 30, 32)
    settings = ResidualSettings(bits=4, num_centroids=32, min_vectors=600)
    store = TokenStore(32, "residual", residual=settings)
    store.append(vecs[:5], [np.arange(len(v)) for v in vecs[:5]])  # 200 vectors: too few to fit on
    assert store.codec == "float16" and store.codec_fit is None
    store.save(tmp_path)
    reopened = TokenStore.load(tmp_path, 32, "residual", 48, settings)
    assert reopened.codec == "float16" and reopened.target == "residual"
    reopened.append(vecs[5:], [np.arange(len(v)) for v in vecs[5:]])  # 1,200 vectors: fitted on all
    assert reopened.codec == "residual" and reopened.rows.shape == (1200, 16)
    assert len(reopened.segments) == 1 and np.array_equal(reopened.offsets, np.arange(31) * 40)
    assert np.array_equal(np.asarray(reopened.token_ids[np.arange(40)]), np.arange(40))
    for doc in (0, 29):  # the early (float16) rows and the later ones decode close to their vectors
        assert np.abs(reopened.doc_vectors(doc) - vecs[doc]).max() < 0.5


def test_an_ingest_hold_fits_the_residual_codec_on_all_of_it() -> None:
    vecs = blocks(np.random.default_rng(8), [40] * 30, 32)
    store = TokenStore(32, "residual", residual=ResidualSettings(bits=4, num_centroids=32, min_vectors=100))
    store.hold_vectors = 1200  # what an ingest of all 30 documents asks for
    for start in range(0, 30, 10):  # three chunks, each past min_vectors alone
        store.append(vecs[start : start + 10], [np.arange(40)] * 10)
        assert store.codec == ("residual" if start == 20 else "float16")
    assert store.hold_vectors == 0 and store.rows.shape == (1200, 16)
    early = TokenStore(32, "residual", residual=ResidualSettings(bits=4, num_centroids=32, min_vectors=100))
    early.hold_vectors = 5000  # an overestimate: the ingest settles at its end
    early.append(vecs, [np.arange(40)] * 30)
    assert early.codec == "float16"
    early.settle()
    assert early.codec == "residual" and early.hold_vectors == 0


def test_appends_fill_reserved_room_and_keep_their_rows() -> None:
    vecs = blocks(np.random.default_rng(10), [5] * 40, 8)
    store = TokenStore(8)
    store.planned_vectors = 200  # an ingest's estimate: the segment reserves room for all of it
    for start in range(0, 40, 4):
        store.append(vecs[start : start + 4], [np.full(5, i) for i in range(start, start + 4)])
    (segment,) = store.segments
    assert len(segment.spare["rows"]) == 200 and segment.rows.base is segment.spare["rows"]
    assert store.num_vectors == 200 and store.rows.shape == (200, 8)
    assert np.array_equal(np.asarray(store.token_ids[np.arange(0, 200, 5)]), np.arange(40))
    for doc in (0, 17, 39):
        assert np.allclose(store.doc_vectors(doc), vecs[doc], atol=1e-3)
    unplanned = TokenStore(8)  # no estimate: the buffer grows by a quarter, not per append
    for start in range(0, 40, 4):
        unplanned.append(vecs[start : start + 4], [np.arange(5)] * 4)
    assert np.array_equal(np.asarray(unplanned.rows[np.arange(200)]), np.asarray(store.rows[np.arange(200)]))
    assert len(unplanned.segments[0].spare["rows"]) >= 200


def test_a_planned_ingest_sizes_the_codec_for_its_whole_size() -> None:
    vecs = blocks(np.random.default_rng(11), [40] * 30, 32)
    settings = ResidualSettings(pq_m=8, min_vectors=100)
    small, planned = (TokenStore(32, "residual", residual=settings) for _ in range(2))
    planned.planned_vectors = 120_000  # a much larger ingest than the vectors it is fitted on
    for store in (small, planned):
        store.append(vecs, [np.arange(40)] * 30)
    assert small.residual_codec.num_centroids == 128  # 4 * sqrt(1,200) -> 2^7
    assert planned.residual_codec.num_centroids == 1024  # 4 * sqrt(120,000) -> 2^10
    assert planned.residual_codec.fit_vectors == 120_000 and not planned.refit_due


def test_a_grown_residual_store_is_due_a_refit_that_fits_on_all_of_it(tmp_path: Path) -> None:
    vecs = blocks(np.random.default_rng(9), [40] * 60, 32)
    settings = ResidualSettings(bits=4, min_vectors=200, refit_growth=4.0)
    store = TokenStore(32, "residual", residual=settings)
    store.append(vecs[:5], [np.arange(40)] * 5)  # 200 vectors: the codec is fitted for them
    first = store.residual_codec
    assert first.fit_vectors == 200 and not store.refit_due
    store.append(vecs[5:19], [np.arange(40)] * 14)  # 760 vectors: grown 3.8 times
    assert not store.refit_due
    store.append(vecs[19:], [np.arange(40)] * 41)  # 2,400 vectors: 12 times
    assert store.refit_due and store.residual_codec is first
    store.save(tmp_path)
    reopened = TokenStore.load(tmp_path, 32, "residual", 48, settings)
    assert reopened.residual_codec.fit_vectors == 200 and reopened.refit_due
    before = reopened.doc_vectors(59)
    reopened.refit()
    codec = reopened.residual_codec
    assert codec.fit_vectors == 2400 and codec.num_centroids > first.num_centroids
    assert not reopened.refit_due and len(reopened.segments) == 1 and reopened.rows.shape == (2400, 16)
    assert np.array_equal(reopened.offsets, np.arange(61) * 40)
    # decoded vectors quantised again: most still nearest their own original among the document's
    after = reopened.doc_vectors(59)
    assert np.mean(np.argmax(after @ vecs[59].T, axis=1) == np.arange(40)) >= 0.85
    assert np.linalg.norm(after - vecs[59]) < 1.5 * np.linalg.norm(before - vecs[59])
    never = TokenStore(32, "residual", residual=settings._replace(refit_growth=0))
    never.append(vecs, [np.arange(40)] * 60)  # fitted at 200 vectors, grown 12 times
    assert never.codec == "residual" and not never.refit_due


def test_only_a_residual_store_refits() -> None:
    store = TokenStore(8, "float16")
    store.append(blocks(np.random.default_rng(1), [4], 8), [np.arange(4)])
    assert not store.refit_due
    with pytest.raises(UnsupportedOperation):
        store.refit()
