"""The FAISS module, imported on first use (it is an optional dependency)."""

from __future__ import annotations

from typing import Any

from indexers.errors import UnsupportedOperation

__all__ = ["load_faiss"]


def load_faiss() -> Any:
    """The `faiss` module.

    Raises:
        UnsupportedOperation: FAISS is not installed.
    """
    try:
        import faiss
    except ImportError as exc:
        raise UnsupportedOperation(
            "this index needs FAISS: pip install 'tessera[cpu]' (or 'tessera[gpu]' on a CUDA machine)"
        ) from exc
    return faiss
