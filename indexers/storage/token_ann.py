"""FAISS inner-product index over token vectors, for candidate generation.

Row `i` of the ANN is row `i` of the TokenStore (vectors are only ever appended, in row order), so a
search returns store rows directly. Structures: exact flat (small collections), IVF with 8-bit
scalar-quantised lists (trained on a sample), IVF with product-quantised lists (`pq_m` bytes per
vector), or HNSW. On a CUDA machine with faiss-gpu installed,
flat and IVF searches run on the GPU (`use_gpu=True`).

A loaded index memory-maps its codes (IVF lists, flat and HNSW storage), so searches page in the
lists they probe; the first `add` after a load reads the file into memory (a mapped index is
read-only). The file stays readable while the index lives: its version folder is leased
(`indexers.storage.versions.open_version`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexers.errors import CorruptIndex, InvalidConfig, UnsupportedOperation
from indexers.storage.faiss_lib import load_faiss
from indexers.storage.resident import faiss_bytes, read_faiss_mapped

__all__ = ["AUTO_FLAT_LIMIT", "TokenANN"]

AUTO_FLAT_LIMIT = 20_000
TRAIN_POINTS_PER_LIST = 40
PQ_CENTROIDS = 256
FILE = "token_ann.faiss"


class TokenANN:
    """A FAISS index whose ids are token-store rows."""

    def __init__(self, index: Any, nprobe: int, ef_search: int, use_gpu: bool) -> None:
        self.index = index
        self.use_gpu = use_gpu
        self._gpu_index: Any = None
        self._mapped_from: Path | None = None  # the file a memory-mapped (read-only) index views
        self._settings = (nprobe, ef_search)
        self._configure(nprobe, ef_search)
        if use_gpu and load_faiss().get_num_gpus() == 0:
            raise UnsupportedOperation(
                "use_gpu=True needs faiss-gpu and a CUDA device; none was found (install the 'gpu' extra "
                "on a GPU machine, or set use_gpu=false)"
            )

    def _configure(self, nprobe: int, ef_search: int) -> None:
        faiss = load_faiss()
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None:
            ivf.nprobe = min(nprobe, ivf.nlist)
        if hasattr(self.index, "hnsw"):
            self.index.hnsw.efSearch = ef_search

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
        """Create (and train, for IVF) an empty index sized for `n_total` vectors.

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
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def memory_bytes(self) -> int:
        """Bytes the FAISS index holds in memory (memory-mapped codes excluded)."""
        return faiss_bytes(self.index)

    def own(self) -> None:
        """Read memory-mapped codes into memory: an owned, writable index (a no-op when owned)."""
        if self._mapped_from is not None:
            self.index = load_faiss().read_index(str(self._mapped_from))
            self._mapped_from = None
            self._gpu_index = None
            self._configure(*self._settings)

    def add(self, vectors: np.ndarray) -> None:
        """Append `(n, dim)` vectors; they get the next row ids."""
        self.own()  # adding to a memory-mapped view fails
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._gpu_index = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query vector: similarities `(q, k)` float32 and rows `(q, k)` int64 (-1 = none)."""
        index = self.index
        if self.use_gpu:
            if self._gpu_index is None:
                self._gpu_index = load_faiss().index_cpu_to_all_gpus(self.index)
            index = self._gpu_index
        faiss = load_faiss()
        threads = faiss.omp_get_max_threads()
        # One query's token vectors are too few to share out: a single thread is faster, and idle
        # OpenMP workers spinning after the search would slow the next query's encoder.
        faiss.omp_set_num_threads(1)
        try:
            sims, rows = index.search(
                np.ascontiguousarray(queries, dtype=np.float32), min(k, max(self.ntotal, 1))
            )
        finally:
            faiss.omp_set_num_threads(threads)
        return sims, rows

    def save(self, path: Path) -> None:
        load_faiss().write_index(self.index, str(path / FILE))

    @classmethod
    def load(cls, path: Path, *, nprobe: int, ef_search: int, use_gpu: bool) -> TokenANN:
        """Open a saved ANN, its codes memory-mapped."""
        try:
            index = read_faiss_mapped(path / FILE)
        except (OSError, RuntimeError) as exc:
            raise CorruptIndex(f"{path}: unreadable {FILE}: {exc}") from exc
        ann = cls(index, nprobe, ef_search, use_gpu)
        ann._mapped_from = path / FILE
        return ann
