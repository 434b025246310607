"""One BLAS thread for the small linear algebra of a model estimation.

An estimation solves many least-squares problems of a few hundred rows and a few
dozen columns (:mod:`forecasts.models.ets_joint`, statsmodels' fit, L-BFGS-B).
OpenBLAS starts as many threads as the host has cores and, from some sizes on
(336 x 26 here, not 336 x 25), splits such small problems between them; its threads
then spin waiting for each other, which on a busy host costs many times the work:
a 336 x 26 ``lstsq`` took 4.5 ms of CPU with two threads against 0.14 ms with one,
at a load average of 22 on two cores, and a warm-started joint ETS estimation 43 ms
against 23 ms (docs/forecasting.md, Cost). The forecast job runs one queue at a time
on one core, so the estimations are run with one BLAS thread (threadpoolctl, which
finds numpy's and scipy's OpenBLAS libraries and restores their setting after).
The setting is the libraries' own, so for the time of an estimation it holds for every
thread of the process; estimations overlapping in two threads could leave it at one
thread when they end out of order, which is harmless (one thread is what the
estimations want, and nothing else in the daemon is large enough to gain from more).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    """The BLAS libraries loaded (found once: numpy's and scipy's are loaded by then)."""
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """A context in which BLAS calls run on the calling thread only."""
    limiter: AbstractContextManager[object] = _controller().limit(limits=1, user_api="blas")
    return limiter
