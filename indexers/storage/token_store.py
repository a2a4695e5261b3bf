"""Token vectors of every document, back to back, stored compactly in segments, memory-mapped on load.

Document `i` (a DocTable internal id) owns rows `offsets[i]:offsets[i+1]`. The rows live in
immutable segments, each a contiguous range of documents and rows with its own files
(`seg-<n>-rows.npy`, `-token_ids`, `-offsets` relative to the segment, `-centroids` for residual
codes): an append starts a new segment (or extends the last one not saved yet), and saving links the
files of segments loaded from an earlier version folder instead of writing them again
(`indexers.storage.segments`), so a write costs its own rows, not the store's. Rows are float16 by
default, or product-quantisation codes (`codec="pq"`, `pq_m` bytes per vector) decoded on demand,
or PLAID-style residual codes (`codec="residual"`: a centroid id per row plus packed 2- or 4-bit
residuals or product-quantiser bytes, `indexers.storage.residual`). A residual store keeps float16 rows
until it holds `ResidualSettings.min_vectors` vectors (and, during an ingest, until the ingest's
`hold_vectors`); then it fits the codec on every vector stored so far and re-encodes the store
once (so a collection that starts with a few documents does not keep a codec fitted on them). Appends
are encoded with that codec; once the store has grown `ResidualSettings.refit_growth` times past the
size the codec was fitted for, `refit_due` says so and `refit` (run by a compaction) fits a new codec
on the decoded vectors and re-encodes the store,
or absent (`codec="none"`: only token ids and offsets, for kinds that never re-read vectors).
Each row also keeps the vocabulary id of the token it stands for (for pooled rows: the member token
closest to the pooled vector), which explanations use.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from indexers.errors import CorruptIndex, InvalidConfig, UnsupportedOperation
from indexers.storage.centroid_assign import DEFAULT_PROBE
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import array_bytes
from indexers.storage.residual import (
    ENCODE_CHUNK,
    MAX_FIT_SAMPLE,
    ResidualCodec,
    auto_num_centroids,
    chunked_inner_products,
    posting_lists,
)
from indexers.storage.residual import FILE as RESIDUAL_FILE
from indexers.storage.segments import Column, link_or_copy, save_array

__all__ = ["Codec", "ResidualSettings", "Segment", "TokenStore"]

Codec = Literal["float16", "pq", "residual", "none"]

MIN_PQ_TRAINING = 1024
MIN_PQ_FIT = 256
PQ_FILE = "token_pq.faiss"
SEGMENTS_FILE = "token_segments.json"
LEGACY_FILES = {
    "rows": "token_rows.npy",
    "token_ids": "token_ids.npy",
    "offsets": "token_offsets.npy",
    "centroids": "token_centroids.npy",
}
"""The one-segment layout of folders saved before segments existed."""


class ResidualSettings(NamedTuple):
    """How a residual store fits its codec: bits per dimension, centroids (None: auto), PCA dimension,
    product-quantiser sub-vectors (None: `bits` per dimension instead), the vectors stored as
    float16 before the codec is fitted, the growth (store size over the size the codec was
    fitted for) past which a compaction refits it (0: never), and the centroid groups searched to
    assign a vector its centroid (0: exact)."""

    bits: int = 4
    num_centroids: int | None = None
    reduce_dim: int | None = None
    pq_m: int | None = None
    min_vectors: int = 32_768
    refit_growth: float = 4.0
    assign_groups: int = DEFAULT_PROBE


DEFAULT_RESIDUAL = ResidualSettings()


@dataclass
class Segment:
    """Documents from `first_doc` and rows from `first_row` on; `offsets` start at 0 (the segment's own)."""

    first_doc: int
    first_row: int
    rows: np.ndarray
    token_ids: np.ndarray
    offsets: np.ndarray
    centroid_ids: np.ndarray
    files: dict[str, Path] | None = None
    """The saved file of each array (they are memory-mapped from it); None: not saved yet."""
    postings: tuple[np.ndarray, np.ndarray] | None = None
    spare: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Growable buffers that `rows`, `token_ids` and `centroid_ids` are views of while not saved."""

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays saved per segment, by file part name."""
        return {
            "rows": self.rows,
            "token_ids": self.token_ids,
            "offsets": self.offsets,
            "centroids": self.centroid_ids,
        }

    def extend(
        self,
        rows: np.ndarray,
        token_ids: np.ndarray,
        lengths: np.ndarray,
        centroids: np.ndarray,
        reserve: int = 0,
    ) -> None:
        """Append rows of further documents (only to a segment not saved yet), into spare capacity
        when there is room: a buffer grows to at least `reserve` rows (an ingest's estimate of this
        segment's final size) and by a quarter, so a long ingest copies its rows a bounded number of
        times instead of once per append, and not at all once its estimate is reserved."""
        self.rows = self._grown("rows", self.rows, rows, reserve)
        self.token_ids = self._grown("token_ids", self.token_ids, token_ids, reserve)
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lengths)])
        if len(centroids):
            self.centroid_ids = self._grown("centroids", self.centroid_ids, centroids, reserve)
        self.postings = None

    def _grown(self, name: str, filled: np.ndarray, new: np.ndarray, reserve: int) -> np.ndarray:
        """`filled` followed by `new`: a view of the buffer kept in `spare[name]`, reallocated (and
        `filled` copied into it) only when it is too small or of another dtype."""
        size = len(filled) + len(new)
        dtype = np.result_type(filled.dtype, new.dtype)
        buffer = self.spare.get(name)
        if buffer is None or len(buffer) < size or buffer.dtype != dtype:
            capacity = max(size, reserve, size + size // 4)
            buffer = np.empty((capacity, *new.shape[1:]), dtype=dtype)  # untouched pages stay unmapped
            buffer[: len(filled)] = filled
            self.spare[name] = buffer
        buffer[len(filled) : size] = new
        return buffer[:size]


class TokenStore:
    """Append-only matrix of token vectors grouped by document, kept as a list of segments."""

    def __init__(
        self,
        dim: int,
        codec: Codec = "float16",
        pq_m: int = 48,
        residual: ResidualSettings = DEFAULT_RESIDUAL,
    ) -> None:
        if codec == "pq" and dim % pq_m:
            raise InvalidConfig(f"pq_m={pq_m} must divide the vector dimension {dim}")
        coded_dim = min(residual.reduce_dim or dim, dim)
        if codec == "residual" and residual.pq_m and coded_dim % residual.pq_m:
            raise InvalidConfig(
                f"residual_pq_m={residual.pq_m} must divide the coded dimension {coded_dim} "
                "(the vector dimension, or reduce_dim)"
            )
        self.dim = dim
        self.target: Codec = codec
        """The configured codec; `codec` is float16 while a residual store waits for its fit."""
        self.codec: Codec = "float16" if codec == "residual" else codec
        self.hold_vectors = 0
        """A residual store waiting for its fit waits until it holds this many vectors too (an ingest
        sets it to its own size, so that its codec is fitted on all of it, then calls `settle`)."""
        self.planned_vectors = 0
        """An ingest's estimate of the store's size once it ends (0: none): a codec fitted during the
        ingest gets centroids for that size, and the segment being written reserves room for it."""
        self.pq_m = pq_m
        self.residual = residual
        self._pq: Any = None  # a faiss.ProductQuantizer once trained or loaded
        self.codec_fit: ResidualCodec | None = None  # the residual codec once fitted or loaded
        self.segments: list[Segment] = []
        self._offsets: np.ndarray | None = None  # store-wide offsets, cached

    @property
    def num_vectors(self) -> int:
        last = self.segments[-1] if self.segments else None
        return last.first_row + last.num_rows if last is not None else 0

    @property
    def num_slots(self) -> int:
        """Number of documents (internal ids) with a slot, live or tombstoned."""
        last = self.segments[-1] if self.segments else None
        return last.first_doc + last.num_docs if last is not None else 0

    def _column(self, name: str) -> Any:
        """One array across segments: the segment's own array when there is one segment, else a `Column`."""
        parts = [segment.arrays()[name] for segment in self.segments]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            width = (
                0
                if self.codec in ("residual", "none")
                else {"pq": self.pq_m, "float16": self.dim}[self.codec]
            )
            if name == "rows" and self.codec_fit is not None:
                width = self.codec_fit.packed_width
            shape = (0, width) if name == "rows" else (0,)
            dtype = {"rows": np.float16 if self.codec == "float16" else np.uint8, "token_ids": np.int32}
            return np.zeros(shape, dtype=dtype.get(name, np.int32))
        return Column(parts)

    @property
    def rows(self) -> Any:
        """Stored rows (float16 vectors or codes), indexable like one array (`Column` across segments)."""
        return self._column("rows")

    @property
    def token_ids(self) -> Any:
        """The vocabulary id of each row, indexable like one array."""
        return self._column("token_ids")

    @property
    def centroid_ids(self) -> Any:
        """Residual codes: each row's centroid, indexable like one array."""
        return self._column("centroids")

    @property
    def offsets(self) -> np.ndarray:
        """`(num_slots + 1,)` store-wide row offsets of the documents."""
        if len(self.segments) == 1:
            return self.segments[0].offsets
        if self._offsets is None:
            parts = [np.zeros(1, dtype=np.int64)]
            parts += [np.asarray(s.offsets[1:], dtype=np.int64) + s.first_row for s in self.segments]
            self._offsets = np.concatenate(parts)
        return self._offsets

    def memory_bytes(self) -> int:
        """Bytes held in memory: arrays not memory-mapped (those of segments not saved yet), the
        residual posting lists and codec, and the PQ codebooks."""
        total = array_bytes(self._offsets)
        for segment in self.segments:
            total += array_bytes(*segment.arrays().values(), *(segment.postings or ()))
        if self.codec_fit is not None:
            total += self.codec_fit.memory_bytes()
        if self._pq is not None:
            total += int(self._pq.centroids.size()) * 4
        return total

    def append(self, vectors: Sequence[np.ndarray], token_ids: Sequence[np.ndarray]) -> None:
        """Append one `(n_i, dim)` block and `(n_i,)` token ids per document, in internal-id order:
        into the last segment if it is not saved yet, else into a new one."""
        if not vectors:
            return
        lengths = np.fromiter((len(v) for v in vectors), dtype=np.int64, count=len(vectors))
        centroids = np.zeros(0, dtype=np.int32)
        if self.codec == "none":
            encoded = np.zeros((int(lengths.sum()), 0), dtype=np.uint8)
        else:
            block = np.concatenate(vectors).astype(np.float32, copy=False)
            if self.codec == "pq":
                if self._pq is None:
                    self._train_pq(block)
                encoded = self._pq.compute_codes(np.ascontiguousarray(block))
            elif self.codec == "residual":
                centroids, encoded = self.residual_codec.encode(block)
            else:
                encoded = block.astype(np.float16)
        ids = np.concatenate(token_ids).astype(np.int32)
        self._offsets = None
        last = self.segments[-1] if self.segments else None
        if last is not None and last.files is None:
            last.extend(encoded, ids, lengths, centroids, reserve=self.planned_vectors - last.first_row)
        else:
            offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)])
            self.segments.append(Segment(self.num_slots, self.num_vectors, encoded, ids, offsets, centroids))
        if self.num_vectors >= max(self._fit_vectors, self.hold_vectors):
            self.settle()

    def settle(self) -> None:
        """Fit the residual codec (on every stored vector) and re-encode the store, if it is a residual
        store still holding float16 rows and has `min_vectors`; ends a `hold_vectors` hold."""
        self.hold_vectors = 0
        if self.target == "residual" and self.codec == "float16" and self.num_vectors >= self._fit_vectors:
            self._convert_to_residual()

    def select(self, internal_ids: np.ndarray) -> TokenStore:
        """A new one-segment store (in memory) holding only these documents, renumbered from 0 in
        the given order; their stored codes are copied as they are (nothing is encoded again)."""
        store = TokenStore(self.dim, self.target, self.pq_m, self.residual)
        store.codec, store._pq, store.codec_fit = self.codec, self._pq, self.codec_fit
        rows = self.rows_of(internal_ids)
        lengths = self.offsets[internal_ids + 1] - self.offsets[internal_ids]
        offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)])
        centroids = self.centroid_ids[rows] if self.codec == "residual" else np.zeros(0, dtype=np.int32)
        store.segments.append(Segment(0, 0, self.rows[rows], self.token_ids[rows], offsets, centroids))
        return store

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

    def _convert_to_residual(self) -> None:
        """Fit the residual codec on the stored vectors (a uniform sample of at most `MAX_FIT_SAMPLE`
        of them; float16 rows, or residual rows decoded with the current codec) and re-encode the
        store as one segment not saved yet, a chunk of rows at a time."""
        n, settings = self.num_vectors, self.residual
        sample = np.arange(n)
        if n > MAX_FIT_SAMPLE:
            sample = np.sort(np.random.default_rng(0).choice(n, MAX_FIT_SAMPLE, replace=False))
        planned = max(n, self.planned_vectors)
        k = settings.num_centroids or auto_num_centroids(planned, settings.pq_m)
        codec = ResidualCodec.fit(
            self.vectors(sample),
            min(k, len(sample)),
            settings.bits,
            settings.reduce_dim,
            pq_m=settings.pq_m,
            fit_vectors=planned,
            assign_probe=settings.assign_groups,
        )
        parts = [
            codec.encode(self.vectors(np.arange(start, min(start + ENCODE_CHUNK, n))))
            for start in range(0, n, ENCODE_CHUNK)
        ]
        centroids, encoded = np.concatenate([c for c, _ in parts]), np.concatenate([e for _, e in parts])
        token_ids, offsets = np.asarray(self.token_ids[np.arange(n)]), self.offsets.copy()
        self.codec, self.codec_fit = "residual", codec
        self.segments = [Segment(0, 0, encoded, token_ids, offsets, centroids)]
        self._offsets = None

    @property
    def _fit_vectors(self) -> int:
        """Vectors a residual store waits for before fitting: `min_vectors`, and at least the 256
        training vectors each product quantiser's k-means needs."""
        return max(self.residual.min_vectors, MIN_PQ_FIT if self.residual.pq_m else 0)

    @property
    def refit_due(self) -> bool:
        """Whether the residual codec was fitted for fewer than `1 / refit_growth` of the stored
        vectors (its centroids are then too few for the posting lists to stay short)."""
        growth, fit = self.residual.refit_growth, self.codec_fit
        return (
            fit is not None
            and growth > 0
            and fit.fit_vectors > 0
            and self.num_vectors >= growth * fit.fit_vectors
        )

    def refit(self) -> None:
        """Fit a new residual codec on the decoded stored vectors and re-encode the store with it (the
        rows are then quantised twice: a small loss against re-encoding the original vectors)."""
        if self.codec != "residual":
            raise UnsupportedOperation("only a residual store refits its codec")
        self._convert_to_residual()

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
        segment of the store, rows numbered store-wide; cached per segment."""
        num_centroids = self.residual_codec.num_centroids
        for segment in self.segments:
            if segment.postings is None:
                starts, rows = posting_lists(np.asarray(segment.centroid_ids), num_centroids)
                segment.postings = starts, rows + segment.first_row
        return [segment.postings for segment in self.segments if segment.postings is not None]

    def probe(self, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual stores: the rows of the posting lists of `centroids` `(n,)` in every segment, and
        for each row the position in `centroids` of the list that holds it, ascending (rows grouped
        by list)."""
        parts, owners = [], []
        for starts, postings in self.postings():
            lengths = starts[centroids + 1] - starts[centroids]
            ends = np.cumsum(lengths)
            parts.append(
                postings[np.repeat(starts[centroids] - (ends - lengths), lengths) + np.arange(ends[-1])]
            )
            owners.append(np.repeat(np.arange(len(centroids)), lengths))
        if len(parts) == 1:
            return parts[0], owners[0]
        rows, owner = np.concatenate(parts), np.concatenate(owners)
        order = np.argsort(owner, kind="stable")
        return rows[order], owner[order]

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

    def rows_of(self, internal_ids: np.ndarray) -> np.ndarray:
        """The rows of several documents back to back, in the given order."""
        starts = self.offsets[internal_ids]
        lengths = self.offsets[internal_ids + 1] - starts
        before = np.cumsum(lengths) - lengths
        return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))

    def offsets_of(self, internal_ids: np.ndarray) -> np.ndarray:
        """`(len(ids) + 1,)` offsets of several documents' rows laid back to back (as `rows_of`)."""
        lengths = self.offsets[internal_ids + 1] - self.offsets[internal_ids]
        return np.concatenate([[0], np.cumsum(lengths)])

    def gather(self, internal_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of several documents back to back: `(n, dim)` float32 and `(len(ids) + 1,)` offsets."""
        return self.vectors(self.rows_of(internal_ids)), self.offsets_of(internal_ids)

    def similarities(
        self, query: np.ndarray, internal_ids: np.ndarray, centroid_sims: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inner products of `query` `(q, dim)` (in the stored space) with the vectors of several
        documents back to back: `(n, q)` float32 and `(len(ids) + 1,)` offsets. Residual rows are
        scored without decoding whole vectors (`ResidualCodec.inner_products`, reusing the query's
        `centroid_sims` when given)."""
        rows, offsets = self.rows_of(internal_ids), self.offsets_of(internal_ids)
        if self.codec == "residual":
            codec = self.residual_codec
            sims = codec.inner_products(query, self.centroid_ids[rows], self.rows[rows], centroid_sims)
        else:
            sims = chunked_inner_products(query, len(rows), lambda part: self.vectors(rows[part]))
        return sims, offsets

    def doc_of(self, rows: np.ndarray) -> np.ndarray:
        """Internal document id owning each row index; -1 (an empty ANN result slot) maps to -1."""
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def save(self, path: Path) -> None:
        """Write the segments as `seg-<n>-*.npy` files: those of segments loaded from a saved folder
        are hard-linked from it (copied across filesystems), only new segments are written."""
        faiss = load_faiss()
        parts = _parts(self.codec)
        for number, segment in enumerate(self.segments):
            for part in parts:
                target = path / f"seg-{number}-{part}.npy"
                if segment.files is not None:
                    link_or_copy(segment.files[part], target)
                else:
                    save_array(target, segment.arrays()[part])
        sizes = [[s.num_docs, s.num_rows] for s in self.segments]
        (path / SEGMENTS_FILE).write_text(json.dumps({"segments": sizes}))
        if self._pq is not None:
            faiss.write_ProductQuantizer(self._pq, str(path / PQ_FILE))
        if self.codec_fit is not None:
            self.codec_fit.save(path)

    @classmethod
    def load(
        cls, path: Path, dim: int, codec: Codec, pq_m: int, residual: ResidualSettings = DEFAULT_RESIDUAL
    ) -> TokenStore:
        """Open a saved store; its segments' arrays are memory-mapped, not read, so searches page in
        what they touch. A folder saved before segments existed (`token_rows.npy`, ...) opens as one
        segment; one saved with another codec than `codec` opens with the codec it has (a residual
        store saved before its fit, or before residual codes existed, opens float16 and is converted
        by the append that brings it to `min_vectors`)."""
        faiss = load_faiss()
        store = cls(dim, codec, pq_m, residual)
        codec = store.codec = _saved_codec(path, codec)
        try:
            if codec == "pq":
                store._pq = faiss.read_ProductQuantizer(str(path / PQ_FILE))
            if codec == "residual":
                store.codec_fit = ResidualCodec.load(path)
                store.codec_fit.assign_probe = residual.assign_groups
            for files in _segment_files(path):
                store.segments.append(_load_segment(files, store.num_slots, store.num_vectors, codec))
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise CorruptIndex(f"{path}: unreadable token store: {exc}") from exc
        return store


def _segment_files(path: Path) -> list[dict[str, Path]]:
    """The files of each saved segment, in order."""
    if not (path / SEGMENTS_FILE).exists():
        return [{part: path / name for part, name in LEGACY_FILES.items()}]
    count = len(json.loads((path / SEGMENTS_FILE).read_text())["segments"])
    return [{part: path / f"seg-{n}-{part}.npy" for part in LEGACY_FILES} for n in range(count)]


def _parts(codec: Codec) -> tuple[str, ...]:
    """The arrays a segment saves: centroid ids only with residual codes."""
    return tuple(LEGACY_FILES) if codec == "residual" else ("rows", "token_ids", "offsets")


def _load_segment(files: dict[str, Path], first_doc: int, first_row: int, codec: Codec) -> Segment:
    """One saved segment, its arrays memory-mapped.

    Raises:
        CorruptIndex: its arrays disagree on the number of rows.
    """
    rows, token_ids, offsets = (np.load(files[p], mmap_mode="r") for p in ("rows", "token_ids", "offsets"))
    centroids = np.load(files["centroids"], mmap_mode="r") if codec == "residual" else np.zeros(0, np.int32)
    segment = Segment(first_doc, first_row, rows, token_ids, offsets, centroids, files=files)
    n = segment.num_rows
    if len(rows) != n or len(token_ids) != n or (codec == "residual" and len(centroids) != n):
        raise CorruptIndex(f"{files['rows'].parent}: token store arrays disagree on the number of vectors")
    return segment


def _saved_codec(path: Path, configured: Codec) -> Codec:
    """The codec a saved folder was written with (its codec files say), else the configured one."""
    if (path / RESIDUAL_FILE).exists():
        return "residual"
    if (path / PQ_FILE).exists():
        return "pq"
    return "float16" if configured in ("residual", "pq") else configured
