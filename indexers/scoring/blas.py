"""Numpy's BLAS on one thread while a search scores: its idle worker threads otherwise keep spinning
and slow the next query's encoding in torch, whose threads want the same cores."""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_controller: ThreadpoolController | None = None


def one_blas_thread() -> AbstractContextManager[object]:
    """A context in which the BLAS libraries loaded in this process run on one thread (about 10 us
    to enter and leave); the previous thread counts come back on exit."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    limiter: AbstractContextManager[object] = _controller.limit(limits=1, user_api="blas")
    return limiter
