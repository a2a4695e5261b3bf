"""How many bytes an index's pieces hold in memory, memory-mapped file pages excluded.

`Index.memory_bytes` adds these up; a cache of loaded indexes bounds its size with it. Arrays read
with `np.load(..., mmap_mode="r")` and FAISS structures read with a memory-map flag count nothing:
their pages come from the file on demand and the kernel can drop them again.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from indexers.storage.faiss_lib import load_faiss

__all__ = ["array_bytes", "faiss_bytes", "read_faiss_mapped"]

ID_MAP_ENTRY = 48
"""Bytes per vector of an `IndexIDMap2`: the id array plus its reverse hash map (an estimate)."""


def _mapped(array: np.ndarray) -> bool:
    """Whether `array` views a memory-mapped file (its chain of bases ends in an `mmap`)."""
    base: Any = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


def array_bytes(*arrays: np.ndarray | None) -> int:
    """Bytes of the arrays that are in memory (None and memory-mapped arrays count 0)."""
    return sum(a.nbytes for a in arrays if a is not None and not _mapped(a))


def faiss_bytes(index: Any) -> int:
    """Bytes a FAISS index holds in memory: codes (unless memory-mapped), ids, an IVF quantiser and
    an HNSW graph. Structures it does not know count `ntotal * d` float32 values."""
    faiss = load_faiss()
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap):
        per_id = ID_MAP_ENTRY if isinstance(index, faiss.IndexIDMap2) else 8
        return int(index.ntotal) * per_id + faiss_bytes(index.index)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        lists = faiss.downcast_InvertedLists(ivf.invlists)
        codes = (
            int(ivf.ntotal) * (int(ivf.code_size) + 8) if isinstance(lists, faiss.ArrayInvertedLists) else 0
        )
        return codes + faiss_bytes(ivf.quantizer)
    if isinstance(index, faiss.IndexHNSW):
        graph = index.hnsw
        links = graph.neighbors.size() * 4 + graph.levels.size() * 4 + graph.offsets.size() * 8
        return int(links) + faiss_bytes(index.storage)
    if isinstance(index, faiss.IndexFlatCodes):
        return int(index.codes.size()) if index.codes.is_owned else 0
    return int(index.ntotal) * int(index.d) * 4


def read_faiss_mapped(file: Path) -> Any:
    """Read a FAISS index with its codes memory-mapped where FAISS can (IVF lists, flat and HNSW
    storage): the result is read-only; read the file again without this to modify it.

    Raises:
        RuntimeError: FAISS cannot read the file.
    """
    faiss = load_faiss()
    with open(file, "rb") as handle:
        ivf = handle.read(2) == b"Iw"  # every IVF index's four-character code starts so
    # IO_FLAG_MMAP maps IVF lists (and needs a plain file reader); IO_FLAG_MMAP_IFC maps flat codes
    return faiss.read_index(str(file), faiss.IO_FLAG_MMAP if ivf else faiss.IO_FLAG_MMAP_IFC)
