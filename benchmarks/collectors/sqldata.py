"""Benchmark ticket tables derived from the real ServiceNow incidents (issue #3).

The 24,918 real incidents (``monitor/demo/data/servicenow_incidents.csv.gz``: queue =
assignment group, priority, opened_at, resolved_at) are loaded into a seed table and
replicated in SQL: copy ``k`` of incident ``i`` is the incident shifted by ``-k * SHIFT``
in time, queue, priority and resolution time kept. ``SHIFT`` (3.68 days) is shorter
than the log, so about 25 copies overlap at any instant: the store looks like the real
help desk with 25 times its arrival rate. The queue mix, the priorities and the
resolution-time distribution are the real ones; nothing is drawn at random.

The table holds the state at the as-of instant ``AS_OF``: only rows opened before it
(the copies shifted forward are cut at ``AS_OF``), the newest ``N`` such rows (the
oldest copy is partial). A row whose shifted ``resolved_at`` is at or after ``AS_OF``
is open: status ``open``, ``resolved_at`` NULL (the store does not know the future).
Every other row is ``resolved``. By Little's law the open count is
``sum(resolution times) / SHIFT`` ≈ 50,000; the exact count is computed here in Python
(``Plan.open``) and checked against the database.

``resolution_due_at`` = ``opened_at`` + a per-priority resolution policy (ours, not in
the data), so the SLA figures are exercised.

Ids follow the copies (older copy, smaller id; within a copy, opening order), so the
table is physically in roughly time order like a real store's.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa

from monitor.demo.ticketstore import Incident, load_incidents

SCHEMA = "bench_sqlpoll"
AS_OF = datetime(2016, 6, 1, 0, 0)
"""The benchmark's as-of instant (naive, the fixture's clock; read as UTC)."""
SHIFT = timedelta(minutes=5299)
"""Shift between copies; chosen so that about 50,000 tickets are open at ``AS_OF``."""
VERSION = 1
"""Bump when the generation changes: cached tables of another version are rebuilt."""
RESOLUTION_POLICY_H = {"1 - Critical": 8, "2 - High": 24, "3 - Moderate": 72, "4 - Low": 120}
"""Hours from opening to the resolution deadline, per priority (our policy)."""
ID_STRIDE = 100_000
CHUNK_COPIES = 40
"""Copies per INSERT ... SELECT (about a million rows per statement)."""


@dataclass(frozen=True)
class Plan:
    """Which copies make a table of ``n`` rows, and the open count that results."""

    n: int
    kmin: int
    klast: int
    last_kept: int
    last_rows: int
    open: int

    @property
    def copies(self) -> int:
        return self.klast - self.kmin + 1


@cache
def seed() -> tuple[Incident, ...]:
    """The real incidents in opening order (seq = position + 1)."""
    return tuple(sorted(load_incidents(), key=lambda i: (i.opened_at, i.number)))


def plan(n: int) -> Plan:
    incidents = seed()
    opened = [i.opened_at for i in incidents]
    kmin = math.floor((opened[0] - AS_OF) / SHIFT) + 1
    k, total, open_ = kmin, 0, 0
    while True:
        kept = bisect.bisect_left(opened, AS_OF + k * SHIFT)  # opened - k*SHIFT < AS_OF
        if total + kept >= n:
            rows = incidents[kept - (n - total) : kept]
            open_ += sum(1 for i in rows if _open(i, k))
            return Plan(n, kmin, k, kept, n - total, open_)
        open_ += sum(1 for i in incidents[:kept] if _open(i, k))
        total += kept
        k += 1


def _open(incident: Incident, k: int) -> bool:
    return incident.resolved_at is None or incident.resolved_at - k * SHIFT >= AS_OF


def table_name(n: int) -> str:
    return f"tickets_{n}"


def qualified(n: int) -> str:
    return f"{SCHEMA}.{table_name(n)}"


def ensure(admin: sa.Engine, n: int, log: bool = True) -> Plan:
    """Create the seed and the ``n``-row table with its indexes, unless cached."""
    p = plan(n)
    dialect = admin.dialect.name
    name = table_name(n)
    with admin.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        else:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (name VARCHAR(64) PRIMARY KEY,"
            " n BIGINT NOT NULL, version INT NOT NULL, shift_s BIGINT NOT NULL,"
            " open_n BIGINT NOT NULL)"
        )
        row = conn.execute(
            sa.text(f"SELECT n, version, shift_s FROM {SCHEMA}.meta WHERE name = :name"),
            {"name": name},
        ).first()
    wanted = (n, VERSION, int(SHIFT.total_seconds()))
    if row is not None and tuple(row) == wanted:
        if log:
            print(f"  [{dialect}] {qualified(n)} cached ({n:,} rows, {p.open:,} open)", flush=True)
        return p
    _ensure_seed(admin)
    started = time.perf_counter()
    if log:
        print(
            f"  [{dialect}] generating {qualified(n)}: {n:,} rows from {p.copies} copies, "
            f"{p.open:,} open expected",
            flush=True,
        )
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {SCHEMA}.meta WHERE name = '{name}'")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {qualified(n)}")
        conn.exec_driver_sql(
            f"CREATE TABLE {qualified(n)} (id BIGINT NOT NULL PRIMARY KEY,"
            " queue VARCHAR(40) NOT NULL, status VARCHAR(16) NOT NULL,"
            " priority VARCHAR(20) NOT NULL, created_at {ts} NOT NULL, resolved_at {ts} NULL,"
            " resolution_due_at {ts} NOT NULL)".replace(
                "{ts}", "TIMESTAMP" if dialect == "postgresql" else "DATETIME"
            )
        )
    for lo in range(p.kmin, p.klast + 1, CHUNK_COPIES):
        hi = min(lo + CHUNK_COPIES - 1, p.klast)
        with admin.begin() as conn:
            conn.exec_driver_sql(_insert_sql(dialect, p, lo, hi))
        if log:
            print(
                f"    copies {lo}..{hi} of {p.kmin}..{p.klast} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    with admin.begin() as conn:
        for statement in index_sql(dialect, n):
            conn.exec_driver_sql(statement)
        count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {qualified(n)}").scalar_one()
        open_n = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {qualified(n)} WHERE status = 'open'"
        ).scalar_one()
        if (count, open_n) != (n, p.open):
            raise RuntimeError(
                f"{qualified(n)}: {count} rows, {open_n} open; expected {n}, {p.open}"
            )
        conn.execute(
            sa.text(
                f"INSERT INTO {SCHEMA}.meta (name, n, version, shift_s, open_n) "
                "VALUES (:name, :n, :v, :s, :o)"
            ),
            {"name": name, "n": n, "v": VERSION, "s": wanted[2], "o": open_n},
        )
    analyze(admin, n)
    if log:
        print(
            f"  [{dialect}] {qualified(n)} ready in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return p


def _ensure_seed(admin: sa.Engine) -> None:
    incidents = seed()
    dialect = admin.dialect.name
    ts = "TIMESTAMP" if dialect == "postgresql" else "DATETIME"
    with admin.begin() as conn:
        have = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.tables "
            f"WHERE table_schema = '{SCHEMA}' AND table_name = 'seed'"
        ).scalar_one()
        if have and conn.exec_driver_sql(f"SELECT COUNT(*) FROM {SCHEMA}.seed").scalar_one() == len(
            incidents
        ):
            return
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SCHEMA}.seed")
        conn.exec_driver_sql(
            f"CREATE TABLE {SCHEMA}.seed (seq INT NOT NULL PRIMARY KEY,"
            " number VARCHAR(20) NOT NULL,"
            f" queue VARCHAR(40) NOT NULL, priority VARCHAR(20) NOT NULL, opened_at {ts} NOT NULL,"
            f" resolved_at {ts} NULL, due_s INT NOT NULL)"
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {SCHEMA}.seed VALUES (:seq, :number, :queue, :priority,"
                " :opened_at, :resolved_at, :due_s)"
            ),
            [
                {
                    "seq": seq,
                    "number": i.number,
                    "queue": i.group,
                    "priority": i.priority,
                    "opened_at": i.opened_at,
                    "resolved_at": i.resolved_at,
                    "due_s": RESOLUTION_POLICY_H[i.priority] * 3600,
                }
                for seq, i in enumerate(incidents, start=1)
            ],
        )


def _insert_sql(dialect: str, p: Plan, lo: int, hi: int) -> str:
    """Copies lo..hi (inclusive) of the seed, shifted, cut at AS_OF, in id order."""
    shift_s = int(SHIFT.total_seconds())
    as_of = f"'{AS_OF:%Y-%m-%d %H:%M:%S}'"
    if dialect == "postgresql":
        source = f"generate_series({lo}, {hi}) AS g(k) CROSS JOIN {SCHEMA}.seed s"
        k = "g.k"

        def shift(col: str) -> str:
            return f"({col} - make_interval(secs => {k} * {shift_s}))"

        def plus(expr: str, secs: str) -> str:
            return f"({expr} + make_interval(secs => {secs}))"

        as_of = f"TIMESTAMP {as_of}"
        order = "ORDER BY 1"
        hint = ""
    else:
        source = f"seq_{lo - p.kmin}_to_{hi - p.kmin} AS g CROSS JOIN {SCHEMA}.seed s"
        k = f"(CAST(g.seq AS SIGNED) + {p.kmin})"

        def shift(col: str) -> str:
            return f"({col} - INTERVAL ({k} * {shift_s}) SECOND)"

        def plus(expr: str, secs: str) -> str:
            return f"({expr} + INTERVAL {secs} SECOND)"

        order = ""
        hint = "STRAIGHT_JOIN"
    opened, resolved = shift("s.opened_at"), shift("s.resolved_at")
    is_open = f"(s.resolved_at IS NULL OR {resolved} >= {as_of})"
    return (
        f"INSERT INTO {qualified(p.n)} (id, queue, status, priority, created_at, resolved_at,"
        f" resolution_due_at) SELECT {hint} ({p.klast} - {k}) * {ID_STRIDE} + s.seq, s.queue,"
        f" CASE WHEN {is_open} THEN 'open' ELSE 'resolved' END, s.priority, {opened},"
        f" CASE WHEN {is_open} THEN NULL ELSE {resolved} END, {plus(opened, 's.due_s')}"
        f" FROM {source} WHERE {opened} < {as_of}"
        f" AND ({k} < {p.klast} OR s.seq > {p.last_kept - p.last_rows}) {order}"
    )


def index_sql(dialect: str, n: int) -> list[str]:
    """The documented indexes: (status, queue, created_at), created_at, resolved_at, and the
    resolution deadline (Zammad's preset documents ``close_escalation_at``)."""
    t, q = table_name(n), qualified(n)
    if dialect == "postgresql":
        return [
            f"CREATE INDEX {t}_status_queue_created ON {q} (status, queue, created_at)",
            f"CREATE INDEX {t}_created ON {q} (created_at)",
            f"CREATE INDEX {t}_resolved ON {q} (resolved_at)",
            f"CREATE INDEX {t}_due ON {q} (resolution_due_at)",
        ]
    return [
        f"ALTER TABLE {q} ADD INDEX status_queue_created (status, queue, created_at),"
        " ADD INDEX created (created_at), ADD INDEX resolved (resolved_at),"
        " ADD INDEX due (resolution_due_at)"
    ]


def partial_index(admin: sa.Engine, n: int, present: bool) -> None:
    """PostgreSQL only: the partial index on open tickets, created or dropped."""
    t, q = table_name(n), qualified(n)
    with admin.begin() as conn:
        if present:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {t}_open ON {q} (queue, created_at)"
                " WHERE status IN ('open')"
            )
        else:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {SCHEMA}.{t}_open")
    analyze(admin, n)


def covering_index(admin: sa.Engine, n: int, present: bool) -> None:
    """A proposed index (not one the presets document): everything the open-ticket
    aggregate reads, so the backlog is an index-only scan instead of one table-row
    lookup per open ticket."""
    t, q = table_name(n), qualified(n)
    columns = "(status, queue, priority, created_at, resolution_due_at)"
    with admin.begin() as conn:
        if admin.dialect.name == "postgresql":
            verb = (
                f"CREATE INDEX IF NOT EXISTS {t}_open_cover ON {q} {columns}"
                if present
                else f"DROP INDEX IF EXISTS {SCHEMA}.{t}_open_cover"
            )
        else:
            exists = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema ="
                f" '{SCHEMA}' AND table_name = '{t}' AND index_name = 'open_cover'"
            ).scalar_one()
            if bool(exists) == present:
                return
            verb = (
                f"ALTER TABLE {q} ADD INDEX open_cover {columns}"
                if present
                else f"ALTER TABLE {q} DROP INDEX open_cover"
            )
        conn.exec_driver_sql(verb)
    analyze(admin, n)


def due_index(admin: sa.Engine, n: int, present: bool) -> None:
    """The ``resolution_due_at`` index, created or dropped (to measure what it is worth)."""
    t, q = table_name(n), qualified(n)
    with admin.begin() as conn:
        if admin.dialect.name == "postgresql":
            verb = (
                f"CREATE INDEX IF NOT EXISTS {t}_due ON {q} (resolution_due_at)"
                if present
                else f"DROP INDEX IF EXISTS {SCHEMA}.{t}_due"
            )
        else:
            exists = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema ="
                f" '{SCHEMA}' AND table_name = '{t}' AND index_name = 'due'"
            ).scalar_one()
            if bool(exists) == present:
                return
            verb = (
                f"ALTER TABLE {q} ADD INDEX due (resolution_due_at)"
                if present
                else f"ALTER TABLE {q} DROP INDEX due"
            )
        conn.exec_driver_sql(verb)
    analyze(admin, n)


def analyze(admin: sa.Engine, n: int) -> None:
    """Fresh statistics (PostgreSQL: VACUUM too, as autovacuum would, for the visibility map)."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if admin.dialect.name == "postgresql":
            conn.exec_driver_sql(f"VACUUM ANALYZE {qualified(n)}")
        else:
            conn.exec_driver_sql(f"ANALYZE TABLE {qualified(n)}").all()
