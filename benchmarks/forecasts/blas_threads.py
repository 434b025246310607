"""What OpenBLAS threads cost an ETS estimation: CPU with the host's BLAS threads and with one.

Run ``python -m benchmarks.forecasts.blas_threads`` from the project root (data from
``tests/data``). With the BLAS libraries at ``--threads`` threads (default: two, the
shared host's cores) and then at one (``forecasts.blas.one_blas_thread``, what the
engine's estimations run in), it measures CPU time (``time.process_time``, which
counts every thread of the process) of:

* ``np.linalg.lstsq`` on 336 x 25 (the joint objective's) and 336 x 26
  (``initial_states``') matrices;
* a chain of daily warm-started joint estimations on the real ServiceNow total
  (:func:`forecasts.models.ets_joint.estimate`, called directly so that the thread
  setting is the one given here);
* a chain of heuristic (statsmodels) estimations on the same windows.

Read it beside the load average it prints: spinning threads cost most on a busy host.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
from threadpoolctl import threadpool_limits

from forecasts.blas import one_blas_thread
from forecasts.fitwarnings import counted_warnings
from forecasts.models import ets_joint
from forecasts.models.ets import _fit_statsmodels
from tests.forecasts.real import servicenow_total

TRAIN = 336


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """Mean CPU milliseconds of ``work`` over ``repeat`` calls."""
    c0 = time.process_time()
    for _ in range(repeat):
        work()
    return 1000 * (time.process_time() - c0) / repeat


def measure(context: Callable[[], AbstractContextManager[object]], days: int) -> dict[str, float]:
    """The four figures inside ``context``."""
    rng = np.random.default_rng(0)
    a25, a26, b = rng.normal(size=(TRAIN, 25)), rng.normal(size=(TRAIN, 26)), rng.normal(size=TRAIN)
    values = servicenow_total().open
    out: dict[str, float] = {}
    with context(), counted_warnings():
        out["lstsq 336x25"] = cpu_ms(lambda: np.linalg.lstsq(a25, b, rcond=None), 300)
        out["lstsq 336x26"] = cpu_ms(lambda: np.linalg.lstsq(a26, b, rcond=None), 300)
        previous = ets_joint.estimate(values[:TRAIN], 24).params
        c0 = time.process_time()
        for k in range(1, days + 1):
            previous = ets_joint.estimate(values[24 * k : 24 * k + TRAIN], 24, previous).params
        out["joint estimation, warm"] = 1000 * (time.process_time() - c0) / days
        c0 = time.process_time()
        for k in range(1, days + 1):
            _fit_statsmodels(values[24 * k : 24 * k + TRAIN], 24)
        out["heuristic estimation"] = 1000 * (time.process_time() - c0) / days
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the figures with the host's threads and with one."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads to compare with one")
    parser.add_argument("--days", type=int, default=40, help="daily estimations in each chain")
    args = parser.parse_args(argv)
    several = measure(lambda: threadpool_limits(limits=args.threads, user_api="blas"), args.days)
    one = measure(one_blas_thread, args.days)
    print(f"CPU ms, {args.threads} BLAS threads against one:")
    for name, value in several.items():
        print(f"  {name:24s} {value:8.2f} {one[name]:8.2f}")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
