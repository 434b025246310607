"""The poll's open-age quantiles on MariaDB: index lookups against window functions.

    python -m benchmarks.collectors.age_lookups [--table bench_workload] [--rounds 3]

Runs on the workload benchmark's table (``benchmarks.collectors.workload``, built with
``--keep``): the poll's backlog statement once (its open counts give the ranks), then,
interleaved, the shipped lookups (``collectors.sqllookups.AgeLookups``) and the window
functions they replaced (``PollQueries.quantiles``), per queue and for the total, and
checks that both give the same creation instants. Prints the wall and the CPU time of
this process for each, and the load average.
"""

from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa

from benchmarks.collectors import workload as bench
from collectors.base import TOTAL_QUEUE
from collectors.sql import SqlCollector
from collectors.sqlqueries import PollQueries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=bench.TABLE)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench.TABLE = args.table
    url = bench.URLS["mariadb"]
    engine = sa.create_engine(url)
    collector = SqlCollector(bench.collector_config(url), engine=engine)
    q = PollQueries(collector.config.mapping, collector._bind)
    lookups = collector._lookups
    with engine.connect() as conn:
        backlog = conn.execute(q.backlog(bench.WINDOW.end)).all()
        for _ in range(args.rounds):
            cpu, started = time.process_time(), time.perf_counter()
            rows = lookups.rows(conn, q, backlog, True)
            took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
            cpu, started = time.process_time(), time.perf_counter()
            old = conn.execute(q.quantiles("mariadb", True)).all()
            was, was_cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"lookups {took:.2f} s ({took_cpu:.2f} s CPU), window functions {was:.2f} s"
                f" ({was_cpu:.2f} s CPU); load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    new = {str(r.queue): (r.q50, r.q90, r.q99) for r in rows}
    before = {TOTAL_QUEUE if r.is_total else str(r.queue): (r.q50, r.q90, r.q99) for r in old}
    same = "the same" if new == before else "DIFFERENT"
    print(f"{len(new)} rows (queues and the total), {same} instants")
    if new != before:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
