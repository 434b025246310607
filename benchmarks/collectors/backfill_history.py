"""``backfill`` per queue from a queue history, at scale (PostgreSQL or MariaDB, 1M tickets).

    python -m benchmarks.collectors.backfill_history [--engine postgresql|mariadb]
        [--size 1000000] [--repeat 1] [--history-only]

The tickets are ``benchmarks.collectors.backfill``'s table (``bench_sqlpoll.tickets_N``,
the real ServiceNow incidents replicated in time, the queue split in seven by id). Its
queue history ``bench_sqlpoll.moves_N`` holds the log's real reassignments
(``tests/data/servicenow_incident_event_log.csv.gz``: each update whose assignment group
differs from the incident's previous one, with the old and new group), replicated as
the tickets are (copy ``k`` shifted by ``k x SHIFT``, only moves before ``AS_OF``), ids
in time order, indexed on ``ticket_id`` and ``at``. The mapping reads it the way the RT
preset reads ``Transactions``: the group entered by the last move before ``:as_of``,
else the one left by the first move at or after it, else today's, split in seven like
the queue. (The ticket's queue is the incident's last group, so a ticket moved after
``AS_OF`` in the log is not consistent with its history: this measures cost, not
figures; the figures are tested against pandas in
``tests/collectors/presets/test_backfill_history.py``.)

For each run, the shipping backfill (``monitor.backfill.backfill_source``, 90 days,
30-day chunks, into a fresh SQLite history store) without and then with
``past_state.queue_changes`` (``--history-only``: with it only): time in the ticket
store's statements, total, CPU of this process, rows written, load average before and
after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from benchmarks.collectors import sqldata
from benchmarks.collectors.backfill import CHUNK, END, HOURS, SPLIT, START, URLS, Timed
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlmap import SqlMapping
from monitor import backfill
from monitor.store.engine import migrate, open_store
from tests.collectors.presets import realdata

SCHEMA = sqldata.SCHEMA


def moves_table(n: int) -> str:
    return f"{SCHEMA}.moves_{n}"


def seed_moves() -> pd.DataFrame:
    """The log's real reassignments: seq (the ticket table's seed), at, old and new group."""
    log = realdata.log()
    log = log.sort_values(["number", "sys_mod_count"], kind="stable")
    log["at"] = log[["sys_updated_at", "opened_at"]].max(axis=1)
    group = log.groupby("number")["assignment_group"].ffill()
    before = group.groupby(log["number"]).shift()
    moved = group.notna() & before.notna() & (group != before)
    seq = {i.number: s for s, i in enumerate(sqldata.seed(), start=1)}
    out = pd.DataFrame(
        {
            "seq": log["number"].map(seq),
            "at": log["at"],
            "old_queue": before,
            "new_queue": group,
        }
    )[moved]
    return out[out["seq"].notna()].astype({"seq": int})


def ensure(admin: sa.Engine, n: int) -> int:
    """The moves of the ``n``-ticket table (built once); how many rows it has."""
    plan = sqldata.ensure(admin, n, log=False)
    table = moves_table(n)
    with admin.begin() as conn:
        have = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.tables"
            f" WHERE table_schema = '{SCHEMA}' AND table_name = 'moves_{n}'"
        ).scalar_one()
        if have:
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
        ts = "TIMESTAMP" if admin.dialect.name == "postgresql" else "DATETIME"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SCHEMA}.seed_moves")
        conn.exec_driver_sql(
            f"CREATE TABLE {SCHEMA}.seed_moves (seq INT NOT NULL, at {ts} NOT NULL,"
            " old_queue VARCHAR(40) NOT NULL, new_queue VARCHAR(40) NOT NULL)"
        )
        rows = seed_moves()
        conn.execute(
            sa.text(f"INSERT INTO {SCHEMA}.seed_moves VALUES (:seq, :at, :old_queue, :new_queue)"),
            [
                {
                    "seq": int(r.seq),
                    "at": r.at.to_pydatetime(),
                    "old_queue": r.old_queue,
                    "new_queue": r.new_queue,
                }
                for r in rows.itertuples()
            ],
        )
        # MariaDB joins by nested loops: the seed's moves are looked up by seq per ticket
        conn.exec_driver_sql(f"CREATE INDEX seed_moves_seq ON {SCHEMA}.seed_moves (seq)")
        shift_s = int(sqldata.SHIFT.total_seconds())
        copy = f"({plan.klast} - t.id DIV {sqldata.ID_STRIDE})"
        if admin.dialect.name == "postgresql":
            copy = f"({plan.klast} - t.id / {sqldata.ID_STRIDE})"
            at = f"(m.at - make_interval(secs => {copy} * {shift_s}))"
            key = "id BIGSERIAL PRIMARY KEY"
        else:
            at = f"(m.at - INTERVAL ({copy} * {shift_s}) SECOND)"
            key = "id BIGINT AUTO_INCREMENT PRIMARY KEY"
        conn.exec_driver_sql(
            f"CREATE TABLE {table} ({key}, ticket_id BIGINT NOT NULL,"
            f" at {ts} NOT NULL, old_queue VARCHAR(40) NOT NULL,"
            " new_queue VARCHAR(40) NOT NULL)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {table} (ticket_id, at, old_queue, new_queue)"
            f" SELECT t.id, {at}, m.old_queue, m.new_queue"
            f" FROM {sqldata.qualified(n)} t JOIN {SCHEMA}.seed_moves m"
            f" ON m.seq = MOD(t.id, {sqldata.ID_STRIDE})"
            f" WHERE {at} < TIMESTAMP '{sqldata.AS_OF:%Y-%m-%d %H:%M:%S}' ORDER BY 2, 1"
        )
        conn.exec_driver_sql(f"CREATE INDEX moves_{n}_ticket ON {table} (ticket_id)")
        conn.exec_driver_sql(f"CREATE INDEX moves_{n}_at ON {table} (at)")
        analyze = "ANALYZE" if admin.dialect.name == "postgresql" else "ANALYZE TABLE"
        conn.exec_driver_sql(f"{analyze} {table}")
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def past_state(n: int) -> dict[str, Any]:
    table = moves_table(n)

    def pick(kind: str, at: str, column: str) -> str:
        return (
            f"(SELECT CONCAT(v.{column}, '/', MOD(t.id, {SPLIT})) FROM {table} v WHERE v.id ="
            f" (SELECT {kind}(c.id + 0) FROM {table} c WHERE c.ticket_id = t.id"
            f" AND c.at {at} :as_of))"
        )

    return {
        "queue": f"COALESCE({pick('MAX', '<', 'new_queue')}, {pick('MIN', '>=', 'old_queue')})",
        "queue_changes": {"table": table, "ticket": "ticket_id", "at": "at"},
    }


def collector(engine_name: str, n: int, history: bool) -> SqlCollector:
    mapping = SqlMapping(
        table=sqldata.qualified(n),
        id="id",
        queue=f"CONCAT(t.queue, '/', MOD(t.id, {SPLIT}))",
        status="status",
        created_at="created_at",
        resolved_at="resolved_at",
        open_statuses=("open",),
        timezone="UTC",
        past_state=past_state(n) if history else None,
    )
    config = SqlSourceConfig(
        kind="sql",
        name="bench-history" if history else "bench",
        url=URLS[engine_name],
        timeout=timedelta(seconds=1800),
        mapping=mapping,
    )
    return SqlCollector(config)


def run(engine_name: str, n: int, history: bool) -> dict[str, Any]:
    return measure(collector(engine_name, n, history), engine_name, history)


def measure(source: SqlCollector, engine_name: str, history: bool) -> dict[str, Any]:
    """A 90-day backfill of ``source`` into a fresh SQLite store: the time reading the
    ticket store, the whole time, the process's CPU and the rows written."""
    reader = Timed(source)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        store = open_store(f"sqlite:///{work}/history.db")
        migrate(store)
        began, cpu = time.perf_counter(), time.process_time()
        result = backfill.backfill_source(store, reader, "bench", START, END, CHUNK)
        total, cpu = time.perf_counter() - began, time.process_time() - cpu
        store.dispose()
    reader.reader.close()
    assert result.hours == HOURS, result
    return {
        "engine": engine_name,
        "history": history,
        "read_s": round(reader.seconds, 1),
        "total_s": round(total, 1),
        "cpu_s": round(cpu, 1),
        "rows": result.rows,
        "load": [round(load, 1), round(os.getloadavg()[0], 1)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(URLS), default="postgresql")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--history-only", action="store_true", help="skip the run without it")
    args = parser.parse_args(argv)
    admin = sa.create_engine(URLS[args.engine])
    moves = ensure(admin, args.size)
    admin.dispose()
    print(f"{args.size:,} tickets, {moves:,} queue moves in the history", flush=True)
    for _ in range(args.repeat):
        for history in (True,) if args.history_only else (False, True):
            print(run(args.engine, args.size, history), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
