"""Numpy's BLAS on one thread while a search scores: its idle worker threads otherwise keep spinning
and slow the next query's encoding in torch, whose threads want the same cores."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_controller: ThreadpoolController | None = None
_modules_seen = 0  # len(sys.modules) when the controller was made: imports may load new BLAS libraries
_limiter: Any = None  # threadpoolctl's limiter while any context is open
_open = 0  # contexts open, across threads


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """A context in which the BLAS libraries loaded in this process run on one thread (about 10 us
    to enter and leave). Thread counts are process-wide, so concurrent contexts (searches on several
    threads) share one limit: the previous counts come back when the last of them exits."""
    global _controller, _limiter, _open, _modules_seen
    with _lock:
        if _open == 0:
            if _controller is None or _modules_seen != len(sys.modules):
                _controller, _modules_seen = ThreadpoolController(), len(sys.modules)
            _limiter = _controller.limit(limits=1, user_api="blas")
        _open += 1
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0:
                _limiter.restore_original_limits()
                _limiter = None
