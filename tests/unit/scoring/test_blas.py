"""one_blas_thread: BLAS on one thread inside the context, the previous counts restored after."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from indexers.scoring.blas import one_blas_thread


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_before_after() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    before = blas_threads()
    assert before
    with one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_overlapping_contexts_keep_one_thread_until_the_last_exits() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))
    before = blas_threads()
    first, second = one_blas_thread(), one_blas_thread()  # as two searches on two threads
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first search ends while the second still scores
    assert set(blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert blas_threads() == before
