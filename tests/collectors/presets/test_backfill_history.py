"""The backfill per queue from the help desk's history (``past_state.queue`` with
``queue_changes``): each hour counts each ticket in its queue at the hour's end, against
pandas, for Znuny (``ticket_history``), RT (``Transactions``) and Zammad (``histories``),
on SQLite, PostgreSQL and MariaDB.

The tables are those of the past-state tests (``test_past_state*.py``): the real
ServiceNow incidents' updates written as each product writes its history, with the
log's real reassignments as queue changes. pandas never reads SQL: for each hour's end
it takes each ticket's queue then from the same history rows (the past-state tests'
``frame``) and counts open, created and resolved per queue
(:func:`tests.collectors.asof.hourly_moving`). The hours are read in two spans, the
second carried from the first, as ``backfill``'s chunks are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import HourFigures
from collectors.sqlhourly import hourly_statement
from collectors.sqlqueries import PollQueries
from tests.collectors import asof
from tests.collectors.presets import test_past_state as znuny
from tests.collectors.presets import test_past_state_osticket as osticket
from tests.collectors.presets import test_past_state_rt as rt
from tests.collectors.presets import test_past_state_zammad as zammad
from tests.collectors.presets.pastcase import SERVERS, collector, load, loaded_on_server

START = datetime(2016, 3, 27, tzinfo=UTC)
MIDDLE = datetime(2016, 3, 30, 5, tzinfo=UTC)
END = datetime(2016, 4, 3, tzinfo=UTC)
HOURS = list(pd.date_range(START, END, freq="h", inclusive="left"))

Figures = dict[tuple[str, datetime], tuple[int, int, int]]


def backfilled(url: str, preset: str, **mapping: Any) -> Figures:
    """``SqlCollector.hourly`` over ``[START, END)`` in two spans (the second carried)."""
    reader = collector(url, preset=preset, **mapping)
    try:
        rows: list[HourFigures] = reader.hourly(START, MIDDLE) + reader.hourly(MIDDLE, END)
    finally:
        reader.close()
    out = {(r.queue, r.hour): (r.open_end, r.created, r.resolved) for r in rows}
    assert len(out) == len(rows)
    return out


def cases() -> dict[str, int]:
    """How many tickets of the history show each case the backfill must get right."""
    h = znuny.changes()
    start, end = (pd.Timestamp(t).tz_localize(None) for t in (START, END))
    before = h.groupby("ticket")["queue"].shift()
    moved = h[before.notna() & (h["queue"] != before)]
    created = h.groupby("ticket")["at"].min()
    inside = moved[(moved["at"] >= start) & (moved["at"] < end)]
    closed = h[h["state"] == znuny.STATE["closed"]].groupby("ticket")["at"].max()
    open_now = h.groupby("ticket").tail(1).set_index("ticket")["state"] != znuny.STATE["closed"]
    resolved_inside = closed[(closed >= start) & (closed < end)].index.difference(
        open_now[open_now].index
    )
    # each move's new queue: one the ticket was in before (back), counted per move
    back = h.groupby("ticket")["queue"].transform(lambda q: q.duplicated())
    return {
        "moved before the start": int((moved["at"] < start).sum()),
        "moved back inside": int((back & h.index.isin(inside.index)).sum()),
        "moved in its creation hour": int(
            (inside["at"].dt.floor("h") == inside["ticket"].map(created).dt.floor("h")).sum()
        ),
        "moved, then resolved inside": int(inside["ticket"].isin(resolved_inside).sum()),
        "moves inside": len(inside),
    }


@functools.cache
def znuny_rows() -> dict[str, pd.DataFrame]:
    return znuny.tables(znuny.changes())


Case = tuple[Any, Callable[[], dict[str, pd.DataFrame]], Any]
"""A preset's tables, its rows and the pandas frame of its tickets as of an instant."""

ENGINES: dict[str, Case] = {
    "znuny": (znuny.metadata, znuny_rows, lambda rows, t: znuny.frame(znuny.changes(), rows, t)),
    "rt": (rt.metadata, rt.rows_of_rt, rt.frame),
    "zammad": (zammad.metadata, zammad.rows_of_zammad, zammad.frame),
}

ON_SERVERS: dict[str, Case] = {
    "osticket": (osticket.metadata, osticket.rows_of_osticket, osticket.frame),
}
"""The presets tested on PostgreSQL and MariaDB only (``CONCAT`` in their labels)."""


def expected(case: Case, rows: dict[str, pd.DataFrame]) -> Figures:
    _, _, frame = case
    return asof.hourly_moving(lambda t: frame(rows, t.to_pydatetime()), HOURS)


def test_the_history_has_every_case() -> None:
    """The comparisons below cover moves before the start, back and forth, in the
    creation hour, and tickets moved and resolved inside the backfilled hours."""
    found = cases()
    assert all(n > 0 for n in found.values()), found


def check(url: str, preset: str, case: Case, rows: dict[str, pd.DataFrame]) -> None:
    """The backfill equals pandas; without the history, the same totals and other
    per-queue figures."""
    got = backfilled(url, preset)
    want = expected(case, rows)
    assert got == want
    # without the change rows, today's queue: the same totals, other queues' figures
    today = backfilled(url, preset, past_state=None)
    assert {k: v for k, v in today.items() if k[0] == "__total__"} == {
        k: v for k, v in want.items() if k[0] == "__total__"
    }
    assert today != want


@pytest.mark.parametrize("preset", list(ENGINES))
def test_backfill_counts_each_ticket_in_its_queue_then(db_url: str, preset: str) -> None:
    metadata, rows_of, _ = ENGINES[preset]
    rows = rows_of()
    load(db_url, metadata, rows)
    check(db_url, preset, ENGINES[preset], rows)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """PostgreSQL or MariaDB (:data:`SERVERS`), for :func:`loaded_on_server`."""
    return request


@pytest.mark.parametrize("preset", list(ON_SERVERS))
def test_backfill_on_servers_counts_each_ticket_in_its_queue_then(
    server: pytest.FixtureRequest, preset: str
) -> None:
    metadata, rows_of, _ = ON_SERVERS[preset]
    rows = rows_of()
    check(loaded_on_server(server, metadata, rows), preset, ON_SERVERS[preset], rows)


@pytest.mark.mariadb
def test_rt_history_lookups_use_the_ticket_index_on_mariadb(mariadb_database: str) -> None:
    """Every per-ticket lookup of RT's history in the backfill statement reads
    ``Transactions1 (objecttype, objectid)``, none scans ``Transactions``: with the
    change rows' condition compared with 1 (``(h.objecttype = 'RT::Ticket' AND ...) = 1``,
    SQLAlchemy's rendering of a boolean column without a native boolean) the ``EXISTS``
    lookups scanned the whole table per ticket, 96.6M rows read for the first span
    (issue 16)."""
    load(mariadb_database, rt.metadata, rt.rows_of_rt())
    reader = collector(mariadb_database, preset="rt")
    engine = sa.create_engine(mariadb_database)
    try:
        statement = hourly_statement(
            PollQueries(reader.config.mapping, reader._bind), "mariadb", START, 77
        )
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN " + sql).mappings().all()
    finally:
        engine.dispose()
        reader.close()
    lookups = [(p["table"], p["type"], p["key"]) for p in plan if "DEPENDENT" in p["select_type"]]
    assert {table for table, _, _ in lookups} == {"h", "c", "v", "x"}  # EXISTS, past_state
    assert all(kind != "ALL" for _, kind, _ in lookups), lookups
    assert {key for table, _, key in lookups if table in ("h", "c")} == {"transactions1"}
