"""FAISS inner-product index over token vectors, for candidate generation, kept in parts.

Row `i` of the ANN is row `i` of the TokenStore (vectors are only ever appended, in row order), so a
search returns store rows directly. The rows live in parts, each a FAISS index over a contiguous range
of rows cloned from one empty trained index (the same IVF quantiser and codes for every part): an add
fills a new part (or the last one not saved yet), a search searches every part and merges their
top-k, and saving links the files of parts loaded from an earlier version folder instead of writing
them again (`indexers.storage.segments`). Structures: exact flat (small collections), IVF with 8-bit
scalar-quantised lists (trained on a sample), IVF with product-quantised lists (`pq_m` bytes per
vector), or HNSW. On a CUDA machine with faiss-gpu installed,
flat and IVF searches run on the GPU (`use_gpu=True`).

A loaded index memory-maps its parts' codes (IVF lists, flat and HNSW storage), so searches page in
the lists they probe; a mapped part is read-only and never changes (adds go to a new part). The files
stay readable while the index lives: its version folder is leased
(`indexers.storage.versions.open_version`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexers.errors import CorruptIndex, InvalidConfig, UnsupportedOperation
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import faiss_bytes, read_faiss_mapped
from indexers.storage.segments import link_or_copy

__all__ = ["AUTO_FLAT_LIMIT", "TokenANN"]

AUTO_FLAT_LIMIT = 20_000
TRAIN_POINTS_PER_LIST = 40
PQ_CENTROIDS = 256
FILE = "token_ann.faiss"
"""The one-part layout of folders saved before parts existed."""
PARTS_FILE = "token_ann.json"


class TokenANN:
    """FAISS indexes (parts) whose ids, offset by the rows of the parts before, are token-store rows."""

    def __init__(self, template: Any, nprobe: int, ef_search: int, use_gpu: bool) -> None:
        """An ANN with no parts; `template` is the empty (trained) index every part is cloned from."""
        self._template = template  # None: made from the first saved part on first use
        self.parts: list[Any] = []
        self._sources: list[Path | None] = []  # the file each part was loaded from; None: not saved
        self._gpu_parts: list[Any] | None = None
        self.use_gpu = use_gpu
        self._settings = (nprobe, ef_search)
        if use_gpu and load_faiss().get_num_gpus() == 0:
            raise UnsupportedOperation(
                "use_gpu=True needs faiss-gpu and a CUDA device; none was found (install the 'gpu' extra "
                "on a GPU machine, or set use_gpu=false)"
            )

    def _configure(self, index: Any) -> Any:
        nprobe, ef_search = self._settings
        ivf = load_faiss().try_extract_index_ivf(index)
        if ivf is not None:
            ivf.nprobe = min(nprobe, ivf.nlist)
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = ef_search
        return index

    @classmethod
    def create(
        cls,
        sample: np.ndarray,
        n_total: int,
        structure: Literal["auto", "flat", "ivf", "ivf_pq", "hnsw"],
        *,
        nlist: int | None,
        nprobe: int,
        hnsw_m: int,
        ef_search: int,
        use_gpu: bool,
        pq_m: int = 48,
    ) -> TokenANN:
        """Create (and train, for IVF) an empty index sized for `n_total` vectors (no parts yet).

        Args:
            sample: `(n, dim)` float32 training vectors (a sample of what will be added).
            n_total: how many vectors are about to be added.
            structure: `auto` picks flat below AUTO_FLAT_LIMIT vectors, else IVF (8-bit codes).
            pq_m: `ivf_pq` only: sub-quantisers (bytes per vector); must divide the dimension.

        Raises:
            InvalidConfig: `ivf_pq` with a `pq_m` that does not divide the dimension, or with
                fewer than 256 training vectors.
        """
        faiss = load_faiss()
        dim = sample.shape[1]
        if structure == "auto":
            structure = "flat" if n_total < AUTO_FLAT_LIMIT else "ivf"
        if structure == "flat":
            index = faiss.IndexFlatIP(dim)
        elif structure == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        else:
            lists = nlist or int(math.sqrt(max(n_total, 1)))
            lists = max(1, min(lists, len(sample) // 39 or 1))
            quantizer = faiss.IndexFlatIP(dim)
            train_size = lists * TRAIN_POINTS_PER_LIST
            if structure == "ivf_pq":
                if dim % pq_m:
                    raise InvalidConfig(f"pq_m={pq_m} must divide the vector dimension {dim}")
                if len(sample) < PQ_CENTROIDS:
                    raise InvalidConfig(
                        f"ann='ivf_pq' needs at least {PQ_CENTROIDS} token vectors to train; got "
                        f"{len(sample)} (use ann='auto' or 'ivf' for small collections)"
                    )
                index = faiss.IndexIVFPQ(quantizer, dim, lists, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
                train_size = max(train_size, PQ_CENTROIDS * TRAIN_POINTS_PER_LIST)
            else:
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
            rng = np.random.default_rng(0)
            take = rng.choice(len(sample), size=min(len(sample), train_size), replace=False)
            index.train(np.ascontiguousarray(sample[np.sort(take)], dtype=np.float32))
        return cls(index, nprobe, ef_search, use_gpu)

    @property
    def index(self) -> Any:
        """The first part's FAISS index (every part has its structure and settings)."""
        return self.parts[0] if self.parts else self._template

    @property
    def ntotal(self) -> int:
        return sum(int(part.ntotal) for part in self.parts)

    def _starts(self) -> np.ndarray:
        """The first row of each part."""
        return np.cumsum([0] + [int(part.ntotal) for part in self.parts[:-1]]).astype(np.int64)

    def memory_bytes(self) -> int:
        """Bytes the FAISS parts hold in memory (memory-mapped codes excluded)."""
        return sum(faiss_bytes(part) for part in self.parts)

    def own(self) -> None:
        """Read memory-mapped parts into memory (they stay unchanged, and are linked when saved)."""
        faiss = load_faiss()
        for number, source in enumerate(self._sources):
            if source is not None:
                self.parts[number] = self._configure(faiss.read_index(str(source)))
        self._gpu_parts = None

    def _trained(self) -> Any:
        """The empty trained index every part is cloned from."""
        if self._template is None:
            source = self._sources[0]
            assert source is not None  # a loaded ANN has saved parts
            self._template = _emptied(source)
        return self._template

    def _empty_part(self) -> Any:
        return self._configure(load_faiss().clone_index(self._trained()))

    def add(self, vectors: np.ndarray) -> None:
        """Append `(n, dim)` vectors; they get the next row ids (in the last part if it is not saved
        yet, else in a new one)."""
        if not self.parts or self._sources[-1] is not None:
            self.parts.append(self._empty_part())
            self._sources.append(None)
        self.parts[-1].add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._gpu_parts = None

    def select(self, rows: np.ndarray) -> TokenANN:
        """A new one-part ANN (in memory) holding only `rows` (increasing), renumbered from 0. IVF
        codes are copied list by list as they are; flat and HNSW vectors are read back exactly."""
        faiss = load_faiss()
        part = self._empty_part()
        fresh = TokenANN(self._template, *self._settings, self.use_gpu)
        fresh.parts, fresh._sources = [part], [None]
        renumber = np.full(self.ntotal, -1, dtype=np.int64)
        renumber[rows] = np.arange(len(rows))
        target = faiss.try_extract_index_ivf(part)
        for start, source in zip(self._starts(), self.parts, strict=True):
            ivf = faiss.try_extract_index_ivf(source)
            if ivf is None:
                local = rows[(rows >= start) & (rows < start + source.ntotal)] - start
                if len(local):
                    part.add(source.reconstruct_batch(local))
                continue
            lists, width = ivf.invlists, ivf.invlists.code_size
            for number in range(ivf.nlist):
                size = lists.list_size(number)
                if size == 0:
                    continue
                ids = renumber[faiss.rev_swig_ptr(lists.get_ids(number), size) + start]
                codes = faiss.rev_swig_ptr(lists.get_codes(number), size * width).reshape(size, width)
                kept = ids >= 0
                if kept.any():
                    new_ids, new_codes = np.ascontiguousarray(ids[kept]), np.ascontiguousarray(codes[kept])
                    target.invlists.add_entries(
                        number, len(new_ids), faiss.swig_ptr(new_ids), faiss.swig_ptr(new_codes)
                    )
        if target is not None:
            target.ntotal = part.ntotal = len(rows)
        return fresh

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query vector: similarities `(q, k)` float32 and rows `(q, k)` int64 (-1 = none)."""
        faiss = load_faiss()
        parts = self.parts
        if self.use_gpu:
            if self._gpu_parts is None:
                self._gpu_parts = [faiss.index_cpu_to_all_gpus(part) for part in self.parts]
            parts = self._gpu_parts
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, max(self.ntotal, 1))
        found: list[tuple[np.ndarray, np.ndarray]] = []
        threads = faiss.omp_get_max_threads()
        # One query's token vectors are too few to share out: a single thread is faster, and idle
        # OpenMP workers spinning after the search would slow the next query's encoder.
        faiss.omp_set_num_threads(1)
        try:
            for start, part in zip(self._starts(), parts, strict=True):
                if part.ntotal:
                    sims, rows = part.search(queries, min(k, int(part.ntotal)))
                    found.append((sims, np.where(rows >= 0, rows + start, -1)))
        finally:
            faiss.omp_set_num_threads(threads)
        if len(found) == 1:
            return found[0]
        if not found:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        sims = np.concatenate([f[0] for f in found], axis=1)
        rows = np.concatenate([f[1] for f in found], axis=1)
        best = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, best, axis=1), np.take_along_axis(rows, best, axis=1)

    def save(self, path: Path) -> None:
        """Write the parts as `token_ann-<n>.faiss` (those loaded from a saved folder hard-linked from
        it, only new parts written) and their sizes."""
        faiss = load_faiss()
        for number, (part, source) in enumerate(zip(self.parts, self._sources, strict=True)):
            target = path / f"token_ann-{number}.faiss"
            if source is not None:
                link_or_copy(source, target)
            else:
                target.unlink(missing_ok=True)  # never write into a file another version links
                faiss.write_index(part, str(target))
        sizes = [int(part.ntotal) for part in self.parts]
        (path / PARTS_FILE).write_text(json.dumps({"parts": sizes}))

    @classmethod
    def load(cls, path: Path, *, nprobe: int, ef_search: int, use_gpu: bool) -> TokenANN:
        """Open a saved ANN, its parts' codes memory-mapped; a folder saved before parts existed
        (`token_ann.faiss`) opens as one part."""
        ann = cls(None, nprobe, ef_search, use_gpu)
        try:
            if (path / PARTS_FILE).exists():
                count = len(json.loads((path / PARTS_FILE).read_text())["parts"])
                files = [path / f"token_ann-{n}.faiss" for n in range(count)]
            else:
                files = [path / FILE]
            for file in files:
                ann.parts.append(ann._configure(read_faiss_mapped(file)))
                ann._sources.append(file)
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CorruptIndex(f"{path}: unreadable token ANN: {exc}") from exc
        return ann


def _emptied(file: Path) -> Any:
    """The index saved in `file` without its vectors: trained, empty and in memory. An IVF index
    keeps its quantiser and codec and gets empty lists (its saved lists are not read); other
    structures are read and reset."""
    faiss = load_faiss()
    index = read_faiss_mapped(file)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        index = faiss.read_index(str(file))
        index.reset()
        return index
    lists = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    ivf.replace_invlists(lists, True)
    lists.this.disown()  # the index owns the lists now
    ivf.ntotal = index.ntotal = 0
    return index
