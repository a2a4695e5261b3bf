"""benchmarks.codec_fidelity: variant parsing and the encode/decode round trips it scores."""

from __future__ import annotations

import numpy as np

from benchmarks.codec_fidelity import parse_variant, round_trip


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_variants_parse() -> None:
    assert parse_variant("float16") == {}
    assert parse_variant("pq=0,dim=16") == {"pq": 0, "dim": 16, "first": None, "refit": False}


def test_round_trips_stay_close_and_a_refit_adds_error() -> None:
    vectors = unit(np.random.default_rng(0), 2000, 32)
    same, projection = round_trip(vectors, {})
    assert same is vectors and projection is None
    error = {}
    for name in ("pq=8", "pq=8,first=600", "pq=8,first=600,refit"):
        decoded, projection = round_trip(vectors, parse_variant(name))
        assert decoded.shape == vectors.shape and projection is None
        error[name] = float(np.linalg.norm(decoded - vectors, axis=1).mean())
    assert all(e < 0.6 for e in error.values())
    assert error["pq=8,first=600,refit"] > error["pq=8,first=600"]
    reduced, projection = round_trip(vectors, parse_variant("pq=4,dim=16"))
    assert reduced.shape == (2000, 16) and projection is not None and projection.shape == (32, 16)
