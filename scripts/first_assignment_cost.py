"""What a preset's time to first assignment costs a poll and a report.

Builds the preset's test bed with the real incidents' owner changes on PostgreSQL (a
fresh schema, dropped afterwards): Znuny's (``tests/collectors/upstream``, the default),
or osTicket's or GLPI's (``tests/collectors/presets/test_first_assignment_presets.py``),
then polls the last week of it and builds the report's figures with and without
``first_assigned_at``, printing the wall time of each, this process's CPU time and the
CPU time of the PostgreSQL backends serving it (read from ``/proc``: the server must run
on this machine; "n/a" otherwise).

    PYTHONPATH=. .venv/bin/python scripts/first_assignment_cost.py [znuny|osticket|glpi]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from collectors.base import Window
from collectors.presets import PRESETS, glpi, osticket
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.presets import pastcase
from tests.collectors.presets import test_first_assignment_presets as presets
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


@contextmanager
def test_bed(preset: str) -> Iterator[tuple[str, dict[str, Any], Window]]:
    """A PostgreSQL schema holding ``preset``'s test bed: its URL, the mapping and the
    week polled."""
    with dbs.fresh_postgres() as url:
        if preset == "znuny":
            rows = znuny_rows()
            dbs.load(url, otrsxml.statements(ddl.load(ZNUNY_SCHEMA), "postgresql"), rows)
            yield url, {"preset": "znuny", "timezone": znuny.ZONE}, WINDOW
        elif preset == "osticket":
            PRESETS["osticket"] = osticket.PRESET
            pastcase.load(url, presets.osticket_tables.metadata, presets.osticket_rows())
            mapping = {"preset": "osticket", **presets.OSTICKET_ON_POSTGRES}
            yield url, mapping, presets.WINDOW
        elif preset == "glpi":
            PRESETS["glpi"] = glpi.PRESET
            pastcase.load(url, presets.glpi_tables.metadata, presets.glpi_rows())
            yield url, {"preset": "glpi"}, presets.WINDOW
        else:
            raise SystemExit(f"unknown preset {preset!r}: znuny, osticket or glpi")


def main() -> None:
    preset = sys.argv[1] if len(sys.argv) > 1 else "znuny"
    with test_bed(preset) as (url, base, window):
        for mapped in (False, True):
            mapping = dict(base)
            if not mapped:
                mapping["first_assigned_at"] = None
            config = {"kind": "sql", "name": "z", "url": url, "timeout": "600s"}
            source = SqlSourceConfig.model_validate({**config, "mapping": mapping, "workload": {}})
            collector = SqlCollector(source)
            try:
                collector.collect(window)  # warm-up: connections open, start-up checks done
                db, cpu, wall = backend_cpu(), time.process_time(), time.perf_counter()
                collector.collect(window)
                poll = time.perf_counter() - wall, time.process_time() - cpu
                poll_db = _cpu(db, backend_cpu())
                db, cpu, wall = backend_cpu(), time.process_time(), time.perf_counter()
                collector.report(window, 1)
                report = time.perf_counter() - wall, time.process_time() - cpu
                report_db = _cpu(db, backend_cpu())
            finally:
                collector.close()
            print(
                f"{preset} {'with' if mapped else 'without'} first_assigned_at:"
                f" poll {poll[0]:.1f} s wall ({poll[1]:.1f} s CPU here, {poll_db} in PostgreSQL),"
                f" report {report[0]:.1f} s wall ({report[1]:.1f} s CPU here,"
                f" {report_db} in PostgreSQL),"
                f" load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
