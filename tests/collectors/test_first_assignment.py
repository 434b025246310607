"""Time to first assignment from the SQL mapping's ``first_assigned_at``, three databases.

The ServiceNow log records the assignee at every update: an owner-history table
(``fa_owner_changes``: one row per change of assignee, as a help desk's audit table keeps
them) is built from it next to the incident tables of ``workload_data``, and the mapping
reads the first assignment as the earliest row of that table. Expected figures are
computed with pandas straight from the log's events (the first update that names an
assignee), never with SQL: the routing figures of a poll (tickets resolved in the window
that record a first assignment, their waits summed) and the report's median and p90
(nearest rank) per queue and overall.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, Window
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.validate import check_mapping
from tests.collectors import workload_data as data

AS_OF = datetime(2016, 4, 1, tzinfo=UTC)
NOW = pd.Timestamp(AS_OF.replace(tzinfo=None))
WINDOW = Window(AS_OF - timedelta(days=7), AS_OF)
FIRST = "(SELECT MIN(a.changed_at) FROM fa_owner_changes a WHERE a.number = t.number)"

owner_changes = sa.Table(
    "fa_owner_changes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(20), nullable=False, index=True),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("assignee", sa.String(40)),
)


def seen_events() -> pd.DataFrame:
    """The log's updates before the instant, as ``workload_data`` reads them."""
    events = data._events()
    return events[events["sys_updated_at"] < NOW]


def owner_rows(events: pd.DataFrame) -> pd.DataFrame:
    """One row per change of assignee (to someone, or back to nobody)."""
    assignee = events["assigned_to"].where(events["assigned_to"] != "?")
    before = assignee.groupby(events["number"]).shift()
    first = events["number"].ne(events["number"].shift())
    changed = (assignee.fillna("") != before.fillna("")) & ~(first & assignee.isna())
    rows = events[changed]
    return pd.DataFrame(
        {
            "number": rows["number"].to_numpy(),
            "changed_at": rows["sys_updated_at"].to_numpy(),
            "assignee": assignee[changed].to_numpy(),
        }
    )


def config(url: str, **mapping: Any) -> SqlSourceConfig:
    return SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "sn",
            "url": url,
            "mapping": {**data.MAPPING, "first_assigned_at": FIRST, **mapping},
            "workload": {},
        }
    )


@pytest.fixture
def loaded(writer: sa.Engine, db_url: str) -> tuple[str, pd.DataFrame]:
    table, _ = data.load(writer, AS_OF.replace(tzinfo=None))
    owners = owner_rows(seen_events())
    owner_changes.create(writer)
    with writer.begin() as conn:
        conn.execute(owner_changes.insert(), data.rows(owners))
    return db_url, table


def expected_waits(table: pd.DataFrame) -> pd.DataFrame:
    """The tickets resolved in the window with their queue and wait (NaN: never assigned),
    from the log's events: the first update naming an assignee."""
    events = seen_events()
    named = events[events["assigned_to"] != "?"]
    first = named.groupby("number")["sys_updated_at"].min()
    start = pd.Timestamp(WINDOW.start.replace(tzinfo=None))
    done = table[
        ~table["incident_state"].isin(data.OPEN_STATES)
        & (table["resolved_at"] >= start)
        & (table["resolved_at"] < NOW)
    ].copy()
    done["wait"] = (done["number"].map(first) - done["opened_at"]).dt.total_seconds()
    return done


def nearest_rank(values: pd.Series, p: int) -> float | None:
    ordered = values.sort_values().to_numpy()
    if len(ordered) == 0:
        return None
    return float(ordered[math.ceil(len(ordered) * p / 100) - 1])


class TestFirstAssignment:
    def test_routing_and_report_match_pandas(self, loaded: tuple[str, pd.DataFrame]) -> None:
        """Per queue: resolved tickets first assigned, summed waits, and the report's
        median and p90 (per queue and overall) equal pandas' over the log's events."""
        url, table = loaded
        done = expected_waits(table)
        # every resolved incident of the log had an assignee at some point; some from
        # their first update (no wait), others later
        assert done["wait"].notna().sum() > 100
        assert (done["wait"] == 0).any() and (done["wait"] > 0).any()
        collector = SqlCollector(config(url))
        try:
            snapshot = collector.collect(WINDOW)
            figures = collector.report(WINDOW, aged_limit=5)
        finally:
            collector.close()
        got = {q.queue: q.workload.routing for q in snapshot.queues if q.workload}
        report = figures.first_assignment
        assert report is not None
        for queue, rows in done.groupby("assignment_group"):
            waits = rows["wait"].dropna()
            routing = got[str(queue)]
            assert routing is not None and routing.resolved == len(rows)
            assert routing.assigned == len(waits), queue
            # to the millisecond: SQLite's julianday arithmetic is off by microseconds
            assert routing.first_assignment_s == pytest.approx(float(waits.sum()), abs=1e-3)
            if len(waits):
                want = (len(waits), nearest_rank(waits, 50), nearest_rank(waits, 90))
                assert report[str(queue)] == pytest.approx(want, abs=1e-3), queue
        everyone = done["wait"].dropna()
        want = (len(everyone), nearest_rank(everyone, 50), nearest_rank(everyone, 90))
        assert report[TOTAL_QUEUE] == pytest.approx(want, abs=1e-3)
        # a queue with no resolved ticket records zeros, not absence
        idle = [r for q, r in got.items() if q not in set(done["assignment_group"])]
        assert all(r is not None and (r.assigned, r.first_assignment_s) == (0, 0.0) for r in idle)

    def test_the_report_path_keeps_the_waits(self, loaded: tuple[str, pd.DataFrame]) -> None:
        """``collect_report`` (the report's path: the period's resolved tickets read once on
        PostgreSQL and MariaDB) gives the routing waits of ``collect`` and the quantiles
        of ``report``."""
        url, _ = loaded
        collector = SqlCollector(config(url))
        try:
            snapshot, figures = collector.collect_report(WINDOW, 5)
            apart, separately = collector.collect(WINDOW), collector.report(WINDOW, 5)
        finally:
            collector.close()
        assert snapshot == apart
        assert figures == separately
        routings = [q.workload.routing for q in snapshot.queues if q.workload]
        assert any(r is not None and r.assigned for r in routings)

    def test_without_the_field_it_is_absent(self, loaded: tuple[str, pd.DataFrame]) -> None:
        """No ``first_assigned_at``: no count, no sum, no quantiles (absent, not zero)."""
        url, _ = loaded
        collector = SqlCollector(config(url, first_assigned_at=None))
        try:
            snapshot = collector.collect(WINDOW)
            figures = collector.report(WINDOW, aged_limit=5)
        finally:
            collector.close()
        routings = [q.workload.routing for q in snapshot.queues if q.workload]
        assert routings and all(r is not None and r.assigned is None for r in routings)
        assert all(r is not None and r.first_assignment_s is None for r in routings)
        assert figures.first_assignment is None
        assert not collector.config.records_first_assignment()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
class TestFirstAssignmentChecks:
    def test_bad_column_and_bad_expression_are_errors_with_their_path(
        self, loaded: tuple[str, pd.DataFrame]
    ) -> None:
        """A column that does not exist, or an expression the database rejects, is an
        error at ``mapping -> first_assigned_at``; a table it reads that is missing is a
        warning (the figure is absent)."""
        url, _ = loaded
        path = "sources -> 0 -> mapping -> first_assigned_at"
        engine = sa.create_engine(url)
        try:
            for bad in ("first_owner_at", FIRST.replace("a.changed_at", "a.nope")):
                check = check_mapping(engine, config(url, first_assigned_at=bad).mapping, "sn")
                assert [p for p, _ in check.problems] == [path], bad
            missing = FIRST.replace("fa_owner_changes", "fa_no_such_table")
            check = check_mapping(engine, config(url, first_assigned_at=missing).mapping, "sn")
            assert check.problems == []
            assert [p for p, _ in check.warnings] == [path]
            assert "time to first assignment will be absent" in check.warnings[0][1]
        finally:
            engine.dispose()

    def test_a_missing_table_at_poll_time_leaves_it_absent(
        self, loaded: tuple[str, pd.DataFrame]
    ) -> None:
        """The table it reads gone: polls and the report go on without the figure."""
        url, _ = loaded
        missing = FIRST.replace("fa_owner_changes", "fa_no_such_table")
        collector = SqlCollector(config(url, first_assigned_at=missing))
        try:
            snapshot = collector.collect(WINDOW)
            figures = collector.report(WINDOW, aged_limit=5)
        finally:
            collector.close()
        routings = [q.workload.routing for q in snapshot.queues if q.workload]
        assert routings and all(r is not None and r.assigned is None for r in routings)
        assert figures.first_assignment is None
