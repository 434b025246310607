"""What the Znuny preset's time to first assignment costs a poll and a report.

Builds the Znuny test bed with the real incidents' owner changes on PostgreSQL (a fresh
schema, dropped afterwards; ``tests/collectors/upstream``), then polls the last week of
it and builds the report's figures with and without ``first_assigned_at``, printing the
wall time of each, this process's CPU time and the CPU time of the PostgreSQL backends
serving it (read from ``/proc``: the server must run on this machine; "n/a" otherwise).

    PYTHONPATH=. .venv/bin/python scripts/first_assignment_cost.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import dbs, ddl, otrsxml, znuny
from tests.collectors.upstream.test_first_assignment import WINDOW, ZNUNY_SCHEMA, znuny_rows

BACKENDS: set[int] = set()
"""Process ids of the PostgreSQL backends this process connected to."""


@sa.event.listens_for(sa.engine.Engine, "connect")
def _note_backend(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    BACKENDS.add(int(cursor.fetchone()[0]))
    cursor.close()


def backend_cpu() -> float | None:
    """User and system CPU seconds of the backends noted so far (None: not readable)."""
    total = 0
    for pid in BACKENDS:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that has exited (a closed pool connection)
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK") if BACKENDS else None


def _cpu(before: float | None, after: float | None) -> str:
    return "n/a" if before is None or after is None else f"{after - before:.1f} s"


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
                collector.collect(WINDOW)  # warm-up: connections open, start-up checks done
                db, cpu, wall = backend_cpu(), time.process_time(), time.perf_counter()
                collector.collect(WINDOW)
                poll = time.perf_counter() - wall, time.process_time() - cpu
                poll_db = _cpu(db, backend_cpu())
                db, cpu, wall = backend_cpu(), time.process_time(), time.perf_counter()
                collector.report(WINDOW, 1)
                report = time.perf_counter() - wall, time.process_time() - cpu
                report_db = _cpu(db, backend_cpu())
            finally:
                collector.close()
            print(
                f"{'with' if mapped else 'without'} first_assigned_at:"
                f" poll {poll[0]:.1f} s wall ({poll[1]:.1f} s CPU here, {poll_db} in PostgreSQL),"
                f" report {report[0]:.1f} s wall ({report[1]:.1f} s CPU here,"
                f" {report_db} in PostgreSQL),"
                f" load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
