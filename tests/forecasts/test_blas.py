"""The one-BLAS-thread context the model estimations run in."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from forecasts.blas import one_blas_thread


def blas_threads() -> list[int]:
    """Threads of every BLAS library loaded, as the libraries report them now."""
    return [int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_before_after() -> None:
    """Inside the context every BLAS library (numpy's and scipy's) uses one thread;
    after it, each has its earlier setting again, and the results are unchanged."""
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS library)

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(336, 26)), rng.normal(size=336)
    with threadpool_limits(limits=2, user_api="blas"):  # as on a two-core host
        before = blas_threads()
        assert len(before) >= 1 and set(before) == {2}
        outside, *_ = np.linalg.lstsq(a, b, rcond=None)
        with one_blas_thread():
            assert blas_threads() == [1] * len(before)
            inside, *_ = np.linalg.lstsq(a, b, rcond=None)
        assert blas_threads() == before
    np.testing.assert_allclose(inside, outside, rtol=1e-12)
