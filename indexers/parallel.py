"""Cores and a thread map for the compiled and BLAS loops that release the GIL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["available_cores", "thread_map"]

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_map(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> list[R]:
    """`[fn(x) for x in items]` in order, on `threads` threads (default: the available cores, at most
    4); one thread runs inline. Worth it only where `fn` spends its time outside the GIL."""
    items = list(items)
    threads = min(threads or min(4, available_cores()), len(items))
    if threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="tessera-map") as pool:
        return list(pool.map(fn, items))
