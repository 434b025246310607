"""What the Znuny preset's time to first assignment costs a poll and a report.

Builds the Znuny test bed with the real incidents' owner changes on PostgreSQL (a fresh
schema, dropped afterwards; ``tests/collectors/upstream``), then polls the last week of
it and builds the report's figures with and without ``first_assigned_at``, printing the
wall time of each and this process's CPU time (the database's own CPU is not included).

    PYTHONPATH=. .venv/bin/python scripts/first_assignment_cost.py
"""

from __future__ import annotations

import os
import time

from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import dbs, ddl, otrsxml, znuny
from tests.collectors.upstream.test_first_assignment import WINDOW, ZNUNY_SCHEMA, znuny_rows


def main() -> None:
    rows = znuny_rows()
    with dbs.fresh_postgres() as url:
        dbs.load(url, otrsxml.statements(ddl.load(ZNUNY_SCHEMA), "postgresql"), rows)
        for mapped in (False, True):
            mapping = {"preset": "znuny", "timezone": znuny.ZONE}
            if not mapped:
                mapping["first_assigned_at"] = None  # type: ignore[assignment]
            config = {"kind": "sql", "name": "z", "url": url, "timeout": "600s"}
            source = SqlSourceConfig.model_validate({**config, "mapping": mapping, "workload": {}})
            collector = SqlCollector(source)
            try:
                cpu, wall = time.process_time(), time.perf_counter()
                collector.collect(WINDOW)
                poll = time.perf_counter() - wall, time.process_time() - cpu
                cpu, wall = time.process_time(), time.perf_counter()
                collector.report(WINDOW, 1)
                report = time.perf_counter() - wall, time.process_time() - cpu
            finally:
                collector.close()
            print(
                f"{'with' if mapped else 'without'} first_assigned_at:"
                f" poll {poll[0]:.1f} s wall ({poll[1]:.1f} s CPU here),"
                f" report {report[0]:.1f} s wall ({report[1]:.1f} s CPU here),"
                f" load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
