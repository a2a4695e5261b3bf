"""Token vectors of every document, back to back, stored compactly and memory-mapped on load.

Document `i` (a DocTable internal id) owns rows `offsets[i]:offsets[i+1]`. Rows are float16 by
default, or product-quantisation codes (`codec="pq"`, `pq_m` bytes per vector) decoded on demand,
or PLAID-style residual codes (`codec="residual"`: a centroid id per row plus packed 2- or 4-bit
residuals, `indexers.storage.residual`; the codec is fitted on the first batch and fixed after),
or absent (`codec="none"`: only token ids and offsets, for kinds that never re-read vectors).
Each row also keeps the vocabulary id of the token it stands for (for pooled rows: the member token
closest to the pooled vector), which explanations use.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from indexers.errors import CorruptIndex, InvalidConfig, UnsupportedOperation
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import array_bytes
from indexers.storage.residual import FILE as RESIDUAL_FILE
from indexers.storage.residual import ResidualCodec, auto_num_centroids, posting_lists

__all__ = ["Codec", "ResidualSettings", "TokenStore"]

Codec = Literal["float16", "pq", "residual", "none"]

MIN_PQ_TRAINING = 1024
PQ_FILE = "token_pq.faiss"


class ResidualSettings(NamedTuple):
    """How a residual store fits its codec: bits per dimension, centroids (None: auto), PCA dimension."""

    bits: int = 4
    num_centroids: int | None = None
    reduce_dim: int | None = None


DEFAULT_RESIDUAL = ResidualSettings()


class TokenStore:
    """Append-only matrix of token vectors grouped by document."""

    def __init__(
        self,
        dim: int,
        codec: Codec = "float16",
        pq_m: int = 48,
        residual: ResidualSettings = DEFAULT_RESIDUAL,
    ) -> None:
        if codec == "pq" and dim % pq_m:
            raise InvalidConfig(f"pq_m={pq_m} must divide the vector dimension {dim}")
        self.dim = dim
        self.codec = codec
        self.pq_m = pq_m
        self.residual = residual
        self._pq: Any = None  # a faiss.ProductQuantizer once trained or loaded
        self.codec_fit: ResidualCodec | None = None  # the residual codec once fitted or loaded
        self.centroid_ids = np.zeros(0, dtype=np.int32)  # residual codec: each row's centroid
        self._postings: tuple[np.ndarray, np.ndarray] | None = None
        self.rows = np.zeros(
            (0, 0 if codec == "residual" else {"pq": pq_m, "float16": dim, "none": 0}[codec]),
            dtype=np.float16 if codec == "float16" else np.uint8,
        )
        self.token_ids = np.zeros(0, dtype=np.int32)
        self.offsets = np.zeros(1, dtype=np.int64)

    @property
    def num_vectors(self) -> int:
        return int(self.offsets[-1])

    @property
    def num_slots(self) -> int:
        """Number of documents (internal ids) with a slot, live or tombstoned."""
        return len(self.offsets) - 1

    def memory_bytes(self) -> int:
        """Bytes held in memory: arrays not memory-mapped (all of them after an append), the
        residual posting lists and codec, and the PQ codebooks."""
        total = array_bytes(
            self.rows, self.token_ids, self.offsets, self.centroid_ids, *(self._postings or ())
        )
        if self.codec_fit is not None:
            total += self.codec_fit.memory_bytes()
        if self._pq is not None:
            total += int(self._pq.centroids.size()) * 4
        return total

    def append(self, vectors: Sequence[np.ndarray], token_ids: Sequence[np.ndarray]) -> None:
        """Append one `(n_i, dim)` block and `(n_i,)` token ids per document, in internal-id order."""
        if not vectors:
            return
        lengths = np.fromiter((len(v) for v in vectors), dtype=np.int64, count=len(vectors))
        if self.codec == "none":
            encoded = np.zeros((int(lengths.sum()), 0), dtype=np.uint8)
        else:
            block = np.concatenate(vectors).astype(np.float32, copy=False)
            if self.codec == "pq":
                if self._pq is None:
                    self._train_pq(block)
                encoded = self._pq.compute_codes(np.ascontiguousarray(block))
            elif self.codec == "residual":
                if self.codec_fit is None:
                    self._fit_residual(block)
                    self.rows = self.rows.reshape(0, self.residual_codec.packed_width)
                ids, encoded = self.residual_codec.encode(block)
                self.centroid_ids = np.concatenate([self.centroid_ids, ids])
                self._postings = None
            else:
                encoded = block.astype(np.float16)
        self.rows = np.concatenate([self.rows, encoded])
        self.token_ids = np.concatenate([self.token_ids, np.concatenate(token_ids).astype(np.int32)])
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lengths)])

    def _train_pq(self, sample: np.ndarray) -> None:
        faiss = load_faiss()
        if len(sample) < MIN_PQ_TRAINING:
            raise InvalidConfig(
                f"vector_codec='pq' needs at least {MIN_PQ_TRAINING} token vectors in the first batch "
                f"to train; got {len(sample)} (use vector_codec='float16' for small collections)"
            )
        pq = faiss.ProductQuantizer(self.dim, self.pq_m, 8)
        rng = np.random.default_rng(0)
        take = rng.choice(len(sample), size=min(len(sample), 65536), replace=False)
        pq.train(np.ascontiguousarray(sample[take]))
        self._pq = pq

    def _fit_residual(self, sample: np.ndarray) -> None:
        settings = self.residual
        k = settings.num_centroids or auto_num_centroids(len(sample))
        self.codec_fit = ResidualCodec.fit(sample, min(k, len(sample)), settings.bits, settings.reduce_dim)

    @property
    def residual_codec(self) -> ResidualCodec:
        """The fitted residual codec.

        Raises:
            UnsupportedOperation: the store is not a residual store, or holds nothing yet.
        """
        if self.codec_fit is None:
            raise UnsupportedOperation("this token store has no residual codec")
        return self.codec_fit

    def project(self, query: np.ndarray) -> np.ndarray:
        """Query vectors in the space of the stored vectors (a residual codec's PCA, else unchanged)."""
        return query if self.codec_fit is None else self.codec_fit.project(query)

    def postings(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Residual stores: rows per centroid as CSR `(starts, rows)` (`posting_lists`), one per
        segment of the store, rows numbered store-wide; cached."""
        if self._postings is None:
            self._postings = posting_lists(self.centroid_ids, self.residual_codec.num_centroids)
        return [self._postings]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Float32 vectors for row indices (in the stored space: a residual codec's PCA if any)."""
        if self.codec == "residual":
            return self.residual_codec.decode(self.centroid_ids[rows], self.rows[rows])
        return self.decode(self.rows[rows])

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Float32 vectors `(n, dim)` for stored rows.

        Raises:
            UnsupportedOperation: the store keeps no vectors (`codec="none"`).
        """
        if self.codec in ("none", "residual"):
            raise UnsupportedOperation(f"rows of codec {self.codec!r} do not decode alone (use vectors)")
        if self.codec == "pq":
            return self._pq.decode(np.ascontiguousarray(rows))  # type: ignore[no-any-return]
        import torch  # its float16 -> float32 conversion is vectorised; numpy's is ~3x slower

        with warnings.catch_warnings():  # memory-mapped rows are read-only; the tensor is only read
            warnings.simplefilter("ignore", UserWarning)
            half = torch.from_numpy(np.ascontiguousarray(rows))
        return half.float().numpy()

    def doc_rows(self, internal: int) -> slice:
        return slice(int(self.offsets[internal]), int(self.offsets[internal + 1]))

    def doc_vectors(self, internal: int) -> np.ndarray:
        """`(n, dim)` float32 vectors of one document."""
        rows = self.doc_rows(internal)
        return self.vectors(np.arange(rows.start, rows.stop))

    def gather(self, internal_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of several documents back to back: `(n, dim)` float32 and `(len(ids) + 1,)` offsets."""
        starts = self.offsets[internal_ids]
        lengths = self.offsets[internal_ids + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        rows = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return self.vectors(rows), offsets

    def doc_of(self, rows: np.ndarray) -> np.ndarray:
        """Internal document id owning each row index; -1 (an empty ANN result slot) maps to -1."""
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def save(self, path: Path) -> None:
        faiss = load_faiss()
        np.save(path / "token_rows.npy", np.ascontiguousarray(self.rows))
        np.save(path / "token_ids.npy", self.token_ids)
        np.save(path / "token_offsets.npy", self.offsets)
        if self._pq is not None:
            faiss.write_ProductQuantizer(self._pq, str(path / PQ_FILE))
        if self.codec_fit is not None:
            self.codec_fit.save(path)
            np.save(path / "token_centroids.npy", self.centroid_ids)

    @classmethod
    def load(
        cls, path: Path, dim: int, codec: Codec, pq_m: int, residual: ResidualSettings = DEFAULT_RESIDUAL
    ) -> TokenStore:
        """Open a saved store; its arrays (rows, token ids, offsets, centroid ids) are memory-mapped,
        not read, so searches page in what they touch. A folder saved with another
        codec than `codec` (float16 before residual codes existed, say) opens with the codec it has."""
        faiss = load_faiss()
        codec = _saved_codec(path, codec)
        store = cls(dim, codec, pq_m, residual)
        try:
            store.rows = np.load(path / "token_rows.npy", mmap_mode="r")
            store.token_ids = np.load(path / "token_ids.npy", mmap_mode="r")
            store.offsets = np.load(path / "token_offsets.npy", mmap_mode="r")
            if codec == "pq":
                store._pq = faiss.read_ProductQuantizer(str(path / PQ_FILE))
            if codec == "residual":
                store.codec_fit = ResidualCodec.load(path)
                store.centroid_ids = np.load(path / "token_centroids.npy", mmap_mode="r")
                if len(store.centroid_ids) != store.num_vectors:
                    raise CorruptIndex(f"{path}: residual centroid ids disagree with the number of vectors")
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptIndex(f"{path}: unreadable token store: {exc}") from exc
        if len(store.rows) != store.num_vectors or len(store.token_ids) != store.num_vectors:
            raise CorruptIndex(f"{path}: token store arrays disagree on the number of vectors")
        return store


def _saved_codec(path: Path, configured: Codec) -> Codec:
    """The codec a saved folder was written with (its codec files say), else the configured one."""
    if (path / RESIDUAL_FILE).exists():
        return "residual"
    if (path / PQ_FILE).exists():
        return "pq"
    return "float16" if configured in ("residual", "pq") else configured
