"""PLAID-style residual compression of token vectors.

A vector is stored as the id of its nearest k-means centroid (found coarse-to-fine from 8,192
centroids, `CentroidAssigner`) plus its residual (vector minus centroid), quantised one of two ways:

- scalar (PLAID): `nbits` (2 or 4) per dimension. Each dimension has its own bucket cutoffs
  (quantiles of the fitted residuals) and bucket weights (the mid-bucket quantiles). Codes are packed
  `8 // nbits` per byte, most significant first.
- product quantisation (`pq_m` set): the residual is cut into `pq_m` sub-vectors, each stored as the
  byte id of its nearest of 256 k-means sub-centroids (`PQEncoder`). At the same bytes per
  vector this keeps MaxSim closer to the float vectors than the scalar codes.

Either way a code byte at position `j` stands for a fixed sub-vector, so decoding looks up every byte
in one table `(bytes per vector, 256, dimensions per byte)`: one gather per byte. Scoring adds a
query's centroid similarities to its inner products with the decoded residuals.
Centroid ids are uint16 when there are at most 65,536 centroids.
Optionally a PCA projection fitted on the same sample reduces the dimension first; queries must be
projected too (`project`), since decoded vectors live in the reduced space.
Rows assigned to each centroid form posting lists (CSR) for candidate generation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexers.errors import CorruptIndex, InvalidConfig
from indexers.storage.centroid_assign import DEFAULT_PROBE, CentroidAssigner
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.pq_codes import PQEncoder
from indexers.storage.resident import array_bytes

__all__ = [
    "ENCODE_CHUNK",
    "KMEANS_ITERATIONS",
    "MAX_FIT_SAMPLE",
    "SCORE_CHUNK",
    "ResidualCodec",
    "auto_num_centroids",
    "auto_pq_m",
    "chunked_inner_products",
    "posting_lists",
]

KMEANS_ITERATIONS = 10
MAX_FIT_SAMPLE = 200_000
PQ_FIT_SAMPLE = 65_536
FILE = "residual_codec.npz"
SCORE_CHUNK = 2048
"""Rows decoded at a time when scoring: their float32 residuals (3 MB at 384 dimensions) stay in cache."""
ENCODE_CHUNK = 65_536
"""Rows encoded at a time: bounds the float32 temporaries of encoding a large store."""


def auto_num_centroids(num_vectors: int, pq_m: int | None = None) -> int:
    """A power of two near `16 * sqrt(num_vectors)` (PLAID's rule for scalar residuals), or near
    `4 * sqrt(num_vectors)` for product-quantised residuals (whose finer residual codes need fewer
    centroids, which keeps the codec small); at least 16, at most `num_vectors`."""
    target = (16 if pq_m is None else 4) * math.sqrt(max(num_vectors, 1))
    return int(min(max(16, 2 ** round(math.log2(target))), max(num_vectors, 1)))


def auto_pq_m(dim: int) -> int:
    """Product-quantiser bytes per vector for `dim` dimensions: the largest divisor of `dim` that
    leaves at least 6 dimensions per byte (64 for 384), at least 1."""
    return max((m for m in range(1, dim // 6 + 1) if dim % m == 0), default=1)


def posting_lists(codes: np.ndarray, num_centroids: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows per centroid as CSR `(starts, rows)`: centroid `c` owns `rows[starts[c]:starts[c + 1]]`."""
    rows = np.argsort(codes, kind="stable").astype(np.int64)
    starts = np.zeros(num_centroids + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=num_centroids), out=starts[1:])
    return starts, rows


class ResidualCodec:
    """Centroids plus per-dimension residual buckets, fitted once and then fixed."""

    def __init__(
        self,
        centroids: np.ndarray,
        cutoffs: np.ndarray,
        weights: np.ndarray,
        nbits: int,
        projection: np.ndarray | None = None,
        codebooks: np.ndarray | None = None,
        fit_vectors: int = 0,
        assign_probe: int = DEFAULT_PROBE,
    ) -> None:
        dim = centroids.shape[1]
        if codebooks is None:
            if nbits not in (2, 4):
                raise InvalidConfig(f"residual_bits must be 2 or 4, got {nbits}")
            if dim * nbits % 8:
                raise InvalidConfig(f"dimension {dim} times residual_bits {nbits} must be a multiple of 8")
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.cutoffs = np.ascontiguousarray(cutoffs, dtype=np.float32)  # (dim, 2**nbits - 1)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)  # (dim, 2**nbits)
        self.nbits = nbits
        self.projection = None if projection is None else np.ascontiguousarray(projection, dtype=np.float32)
        self.codebooks = None if codebooks is None else np.ascontiguousarray(codebooks, dtype=np.float32)
        self.fit_vectors = fit_vectors
        """Vectors in the store the codec was fitted for (0: not recorded)."""
        self.assign_probe = assign_probe
        """Centroid groups searched to assign a vector its centroid (`CentroidAssigner`; 0: exact)."""
        self._assigner: CentroidAssigner | None = None
        self._per_byte = 8 // nbits
        self._shifts = (8 - nbits * (1 + np.arange(self._per_byte))).astype(np.uint8)
        self._lut = self._byte_table() if self.codebooks is None else self.codebooks
        self._flat_lut = self._lut.reshape(-1, self._lut.shape[-1])
        self._byte_offsets = np.arange(self.packed_width, dtype=np.int32) * 256
        self._pq: PQEncoder | None = None

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def num_centroids(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def packed_width(self) -> int:
        """Bytes of residual codes per vector."""
        return self.dim * self.nbits // 8 if self.codebooks is None else len(self.codebooks)

    @property
    def pq_m(self) -> int | None:
        """Product-quantiser sub-vectors per residual, or None for scalar codes."""
        return None if self.codebooks is None else len(self.codebooks)

    def memory_bytes(self) -> int:
        """Bytes of the centroids, buckets, projection and byte table (the codebooks, for PQ)."""
        return array_bytes(self.centroids, self.cutoffs, self.weights, self.projection, self._lut)

    @classmethod
    def fit(
        cls,
        sample: np.ndarray,
        num_centroids: int,
        nbits: int,
        reduce_dim: int | None = None,
        seed: int = 0,
        pq_m: int | None = None,
        fit_vectors: int = 0,
        assign_probe: int = DEFAULT_PROBE,
        iterations: int = KMEANS_ITERATIONS,
    ) -> ResidualCodec:
        """Fit an optional PCA to `reduce_dim`, centroids (FAISS spherical k-means) and the residual
        quantiser (per-dimension buckets, or `pq_m` product-quantiser codebooks) on `(n, dim)` vectors
        (a sample of a store of `fit_vectors` vectors, recorded in the codec); vectors are assigned
        their centroids with `assign_probe` groups (`CentroidAssigner`; 0: exactly); the k-means runs
        `iterations` rounds.

        Raises:
            InvalidConfig: fewer vectors than centroids, or `pq_m` does not divide the dimension.
        """
        faiss = load_faiss()
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        projection = None
        if reduce_dim is not None and reduce_dim < sample.shape[1]:
            # uncentred PCA: inner products are preserved in the span of the leading directions
            _, _, vt = np.linalg.svd(sample[: MAX_FIT_SAMPLE // 4], full_matrices=False)
            projection = np.ascontiguousarray(vt[:reduce_dim].T)
            sample = sample @ projection
        if len(sample) < num_centroids:
            raise InvalidConfig(f"{num_centroids} centroids need at least as many vectors; got {len(sample)}")
        if len(sample) > MAX_FIT_SAMPLE:
            sample = sample[np.random.default_rng(seed).choice(len(sample), MAX_FIT_SAMPLE, replace=False)]
        dim = sample.shape[1]
        if pq_m is not None and dim % pq_m:
            raise InvalidConfig(f"residual_pq_m={pq_m} must divide the vector dimension {dim}")
        kmeans = faiss.Kmeans(dim, num_centroids, niter=iterations, seed=seed, spherical=True)
        kmeans.train(sample)
        centroids = kmeans.centroids.astype(np.float32)
        assigner = CentroidAssigner(centroids, assign_probe, seed)
        residuals = np.ascontiguousarray(sample - centroids[assigner.nearest(sample)])
        if pq_m is not None:
            pq = faiss.ProductQuantizer(dim, pq_m, 8)
            take = np.random.default_rng(seed).permutation(len(residuals))[:PQ_FIT_SAMPLE]
            pq.train(np.ascontiguousarray(residuals[np.sort(take)]))
            codebooks = faiss.vector_to_array(pq.centroids).reshape(pq_m, 256, dim // pq_m)
            empty = np.zeros((dim, 0), np.float32)
            codec = cls(centroids, empty, empty, 8, projection, codebooks, fit_vectors, assign_probe)
        else:
            levels = 2**nbits
            cutoffs = np.quantile(residuals, np.arange(1, levels) / levels, axis=0).T
            weights = np.quantile(residuals, (np.arange(levels) + 0.5) / levels, axis=0).T
            codec = cls(centroids, cutoffs, weights, nbits, projection, None, fit_vectors, assign_probe)
        codec._assigner = assigner
        return codec

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (documents or queries) in the codec's space: the PCA projection, if any."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return vectors if self.projection is None else vectors @ self.projection

    def encode(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(n, dim)` vectors -> centroid ids `(n,)` (uint16 up to 65,536 centroids, else int32) and
        packed residuals `(n, packed_width)` uint8, `ENCODE_CHUNK` rows at a time (bounded memory)."""
        codes = np.empty(len(vectors), dtype=np.uint16 if self.num_centroids <= 2**16 else np.int32)
        packed = np.empty((len(vectors), self.packed_width), dtype=np.uint8)
        for start in range(0, len(vectors), ENCODE_CHUNK):
            part = slice(start, start + ENCODE_CHUNK)
            codes[part], packed[part] = self._encode_chunk(vectors[part])
        return codes, packed

    def _encode_chunk(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.ascontiguousarray(self.project(vectors), dtype=np.float32)
        codes = self.assigner.nearest(vectors)
        residuals = vectors - self.centroids[codes]
        if self.codebooks is not None:
            return codes, self._product_quantiser().encode(residuals)
        buckets = np.zeros(residuals.shape, dtype=np.uint8)
        for j in range(self.cutoffs.shape[1]):
            buckets += residuals > self.cutoffs[:, j]
        return codes, self.pack(buckets)

    @property
    def assigner(self) -> CentroidAssigner:
        """Nearest-centroid assignment with `assign_probe` groups, made on first use."""
        if self._assigner is None or self._assigner.probe != self.assign_probe:
            self._assigner = CentroidAssigner(self.centroids, self.assign_probe)
        return self._assigner

    def _product_quantiser(self) -> PQEncoder:
        """The encoder of the codebooks (encoding only; decoding uses the table), made on first use."""
        if self._pq is None:
            assert self.codebooks is not None
            self._pq = PQEncoder(self.codebooks)
        return self._pq

    def pack(self, buckets: np.ndarray) -> np.ndarray:
        """Bucket ids `(n, dim)` in `[0, 2**nbits)` -> packed bytes `(n, packed_width)`."""
        grouped = buckets.reshape(len(buckets), -1, self._per_byte).astype(np.uint8)
        packed: np.ndarray = np.bitwise_or.reduce(grouped << self._shifts, axis=2).astype(np.uint8)
        return packed

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """Packed bytes `(n, packed_width)` -> bucket ids `(n, dim)`."""
        mask = np.uint8(2**self.nbits - 1)
        buckets: np.ndarray = ((packed[:, :, None] >> self._shifts) & mask).reshape(len(packed), -1)
        return buckets

    @property
    def byte_table(self) -> np.ndarray:
        """`(packed_width, 256, dims per byte)`: the residual sub-vector each byte value stands for at
        each byte position."""
        return self._lut

    def decode_residuals(self, packed: np.ndarray) -> np.ndarray:
        """Float32 residuals `(n, dim)` of packed codes `(n, packed_width)`: one table gather per byte."""
        packed = np.asarray(packed)
        flat = np.take(self._flat_lut, packed + self._byte_offsets, axis=0)
        residuals: np.ndarray = flat.reshape(len(packed), self.dim)
        return residuals

    def decode(self, codes: np.ndarray, packed: np.ndarray) -> np.ndarray:
        """Float32 vectors `(n, dim)`: centroid plus looked-up residual."""
        vectors = self.decode_residuals(packed)
        vectors += np.take(self.centroids, np.asarray(codes, dtype=np.intp), axis=0)
        return vectors

    def inner_products(
        self,
        query: np.ndarray,
        codes: np.ndarray,
        packed: np.ndarray,
        centroid_sims: np.ndarray | None = None,
    ) -> np.ndarray:
        """`(n, q)` inner products of the encoded vectors with `query` `(q, dim)` (in the codec's space):
        the query's similarity to each vector's centroid (`centroid_sims` `(q, num_centroids)` when the
        caller has it) plus its inner product with the residual, decoded a cache-sized chunk at a time."""
        query = np.ascontiguousarray(query, dtype=np.float32)
        if centroid_sims is None:
            centroid_sims = query @ self.centroids.T
        out = chunked_inner_products(query, len(packed), lambda part: self.decode_residuals(packed[part]))
        out += np.take(centroid_sims, np.asarray(codes, dtype=np.intp), axis=1).T
        return out

    def _byte_table(self) -> np.ndarray:
        """`(packed_width, 256, per_byte)` residual weights for every byte value at every byte position."""
        values = np.arange(256, dtype=np.uint8)
        buckets = (values[:, None] >> self._shifts) & np.uint8(2**self.nbits - 1)  # (256, per_byte)
        dims = np.arange(self.dim).reshape(self.packed_width, self._per_byte)  # dims of each byte position
        table: np.ndarray = self.weights[dims[:, None, :], buckets[None, :, :]].astype(np.float32)
        return table

    def save(self, path: Path) -> None:
        np.savez(
            path / FILE,
            centroids=self.centroids,
            cutoffs=self.cutoffs,
            weights=self.weights,
            nbits=self.nbits,
            projection=np.zeros((0, 0), np.float32) if self.projection is None else self.projection,
            codebooks=np.zeros((0, 0, 0), np.float32) if self.codebooks is None else self.codebooks,
            fit_vectors=self.fit_vectors,
        )

    @classmethod
    def load(cls, path: Path) -> ResidualCodec:
        try:
            with np.load(path / FILE) as saved:
                projection = saved["projection"]
                codebooks = saved["codebooks"] if "codebooks" in saved else np.zeros(0)
                return cls(
                    saved["centroids"],
                    saved["cutoffs"],
                    saved["weights"],
                    int(saved["nbits"]),
                    projection if projection.size else None,
                    codebooks if codebooks.size else None,
                    int(saved["fit_vectors"]) if "fit_vectors" in saved else 0,
                )
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndex(f"{path}: unreadable residual codec: {exc}") from exc


def chunked_inner_products(query: np.ndarray, n: int, decode: Callable[[slice], np.ndarray]) -> np.ndarray:
    """`(n, q)` float32 inner products of `n` stored rows with `query` `(q, dim)`, where `decode(part)`
    returns the float32 rows of the slice `part`, `SCORE_CHUNK` rows at a time (they stay in cache)."""
    out = np.empty((n, len(query)), dtype=np.float32)
    query_t = np.asarray(query, dtype=np.float32).T
    for start in range(0, n, SCORE_CHUNK):
        part = slice(start, start + SCORE_CHUNK)
        np.matmul(decode(part), query_t, out=out[part])
    return out
