"""The RT preset's backfill statements on MariaDB over the past-state tests' tables (issue 16).

    python -m benchmarks.collectors.rt_history_mariadb [--repeat 3]

Loads RT's tables of ``tests/collectors/presets/test_past_state_rt.py`` (5,280 tickets
from the real ServiceNow log, 16,344 transactions) into a database of its own
(``bench_rt_history``, dropped at the end) and runs the two spans of
``test_backfill_history.py`` (77 hours from 27 March 2016, then 91 hours carried), each
``--repeat`` times: the statement ``collectors.sqlhourly.hourly_statement`` builds for
the preset, as ``SqlCollector.hourly`` runs it. Per run: rows returned, wall time, the
session's ``Handler_read_*`` counters (rows the server read: ``rnd_next`` by scans,
``key``/``next`` through indexes) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from collectors.sqlhourly import hourly_statement
from collectors.sqlqueries import PollQueries
from tests.collectors.presets import test_past_state_rt as rt
from tests.collectors.presets.pastcase import collector, load

SERVER = "mysql+pymysql://root@127.0.0.1:3306/"
DATABASE = "bench_rt_history"
START = datetime(2016, 3, 27, tzinfo=UTC)
MIDDLE = datetime(2016, 3, 30, 5, tzinfo=UTC)
SPANS = (("first", START, 77, False), ("second (carried)", MIDDLE, 91, True))
COUNTERS = ("Handler_read_rnd_next", "Handler_read_key", "Handler_read_next")


def run(url: str, repeat: int) -> list[dict[str, Any]]:
    reader = collector(url, preset="rt")
    engine = sa.create_engine(url)
    out: list[dict[str, Any]] = []
    try:
        q = PollQueries(reader.config.mapping, reader._bind)
        with engine.connect() as conn:
            for name, start, hours, carried in SPANS:
                statement = hourly_statement(q, "mariadb", start, hours, carried)
                for _ in range(repeat):
                    load_before = os.getloadavg()[0]
                    conn.exec_driver_sql("FLUSH STATUS")
                    began = time.perf_counter()
                    rows = conn.execute(statement).all()
                    wall = time.perf_counter() - began
                    status = dict(conn.exec_driver_sql("SHOW SESSION STATUS").all())
                    out.append(
                        {
                            "span": name,
                            "rows": len(rows),
                            "wall_s": round(wall, 3),
                            **{k: int(status[k]) for k in COUNTERS},
                            "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                        }
                    )
    finally:
        engine.dispose()
        reader.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    admin = sa.create_engine(SERVER)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    url = SERVER + DATABASE
    try:
        load(url, rt.metadata, rt.rows_of_rt())
        for result in run(url, args.repeat):
            print(json.dumps(result))
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
