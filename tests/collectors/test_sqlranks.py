"""The report's quantiles picked from (queue, duration) counts (``collectors.sqlranks``, the
MariaDB/MySQL path) equal the window-function ranking and pandas on the real ServiceNow
tickets, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, Window
from collectors.sql import SqlCollector
from collectors.sqlqueries import PollQueries
from collectors.sqlranks import counted, pick
from collectors.sqlreport import REPORT_QUANTILES_NAMED, ReportQueries
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF, NOW, WINDOW_START, config

WINDOW = Window(WINDOW_START, AS_OF)


@pytest.fixture
def collector(writer: sa.Engine, db_url: str) -> Iterator[tuple[SqlCollector, pd.DataFrame]]:
    table, _ = data.load(writer, AS_OF.replace(tzinfo=None))
    made = SqlCollector(config(db_url, history=False))
    made._connect()  # binds SQLite instants as text once the engine is known
    yield made, table
    made.close()


def nearest(values: list[Any], p: int) -> Any:
    """The ``ceil(n * p / 100)``-th value in ascending order (an independent pick)."""
    return sorted(values)[math.ceil(len(values) * p / 100) - 1]


def by_queue(rows: list[Any], names: list[str]) -> dict[str, tuple[Any, ...]]:
    return {
        TOTAL_QUEUE if getattr(r, "is_total", 0) else str(r.queue): tuple(
            getattr(r, n) for n in names
        )
        for r in rows
    }


class TestCountedQuantiles:
    def test_resolution_times_equal_the_ranking_and_pandas(
        self, collector: tuple[SqlCollector, pd.DataFrame]
    ) -> None:
        """Per queue and for the total (merged counts), the median and p90 resolution time
        equal the window-function statement's, and pandas' nearest rank."""
        made, table = collector
        mapping = made.config.mapping
        assert made._engine is not None
        with made._engine.connect() as conn:
            rq = ReportQueries(PollQueries(mapping, made._bind))
            counts = rq.resolution_quantiles(WINDOW, "mariadb")
            ranked = rq.resolution_quantiles(WINDOW, "sqlite")
            total = ReportQueries(PollQueries(mapping, made._bind, total=True))
            ranked_total = total.resolution_quantiles(WINDOW, "sqlite")
            assert counts is not None and ranked is not None and ranked_total is not None
            mine = pick(conn.execute(counts).all(), REPORT_QUANTILES_NAMED, with_total=True)
            theirs = [*conn.execute(ranked).all(), *conn.execute(ranked_total).all()]
        names = ["n", "median", "p90"]
        got = by_queue(mine, names)
        assert got == by_queue(theirs, names)
        done = table[(table["resolved_at"] >= WINDOW_START.replace(tzinfo=None))]
        done = done[~done["incident_state"].isin(data.OPEN_STATES) & (done["resolved_at"] < NOW)]
        took = (done["resolved_at"] - done["opened_at"]).dt.total_seconds()
        assert len(took) > 1000 and len(got) > 10
        n, median, p90 = got[TOTAL_QUEUE]
        assert (n, float(median), float(p90)) == pytest.approx(
            (len(took), nearest(list(took), 50), nearest(list(took), 90)), abs=0.01
        )


def test_null_ranks_as_the_smallest_value() -> None:
    """NULL sorts first ascending and last descending, as on MariaDB, MySQL and SQLite."""
    table = data.store_tables(AS_OF.replace(tzinfo=None))[0].dropna(subset=["resolved_at"])
    took = (table["resolved_at"] - table["opened_at"]).dt.total_seconds()
    durations = [int(s) for s in took.iloc[:50]]
    values: list[int | None] = [*durations, None, None]
    rows = [type("R", (), {"queue": "q", "v": v, "n": 1})() for v in values]
    up = pick(rows, [("low", 2), ("high", 99)])[0]
    down = pick(rows, [("low", 2), ("high", 99)], descending=True)[0]
    assert (up.n, up.low, down.high) == (52, None, None)
    assert up.high == sorted(durations)[math.ceil(52 * 0.99) - 3]
    assert down.low == sorted(durations, reverse=True)[math.ceil(52 * 0.02) - 1]


def test_counted_on_mariadb_and_mysql_only() -> None:
    assert [counted(d) for d in ("mariadb", "mysql", "postgresql", "sqlite")] == [
        True,
        True,
        False,
        False,
    ]
