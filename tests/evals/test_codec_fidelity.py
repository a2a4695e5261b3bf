"""benchmarks.codec_fidelity: variant parsing and the encode/decode round trips it scores."""

from __future__ import annotations

import numpy as np

from benchmarks.codec_fidelity import parse_variant, round_trip, squared_error


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_variants_parse() -> None:
    assert parse_variant("float16") == {}
    assert parse_variant("pq=0,dim=16") == {
        "pq": 0,
        "dim": 16,
        "first": None,
        "refit": False,
        "probe": 8,
        "iters": 10,
        "k": None,
    }
    assert parse_variant("pq=8,probe=0,iters=4") == parse_variant("pq=8") | {"probe": 0, "iters": 4}


def test_round_trips_stay_close_and_a_refit_adds_error() -> None:
    vectors = unit(np.random.default_rng(0), 2000, 32)
    same, projection, seconds = round_trip(vectors, {})
    assert same is vectors and projection is None and seconds == {}
    error = {}
    for name in ("pq=8", "pq=8,first=600", "pq=8,first=600,refit"):
        decoded, projection, seconds = round_trip(vectors, parse_variant(name))
        assert decoded.shape == vectors.shape and projection is None and set(seconds) == {"fit_s", "encode_s"}
        error[name] = squared_error(vectors, decoded)
        assert error[name] > 0
    assert all(e < 0.25 for e in error.values())
    assert error["pq=8,first=600,refit"] > error["pq=8,first=600"]
    reduced, projection, _ = round_trip(vectors, parse_variant("pq=4,dim=16"))
    assert reduced.shape == (2000, 16) and projection is not None and projection.shape == (32, 16)
