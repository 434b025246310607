"""The generic SQL collector against SQLite, PostgreSQL and MariaDB, on real ServiceNow data.

Every expected figure is computed here with pandas from the same rows the test loads,
never with SQL, and compared exactly with the collector's :class:`Snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, QueueStats, Snapshot, Window
from collectors.sql import SqlCollector
from monitor.errors import AuthFailed, MappingError, SourceUnavailable
from tests.collectors.conftest import (
    metadata,
    store_state,
    table_rows,
    tickets,
    with_tickets,
)

AGES = {"7d": 7, "14d": 14, "30d": 30}
"""Open-ticket age buckets, in days (strictly older than)."""

AS_OF = datetime(2016, 4, 1, tzinfo=UTC)
"""About 9,200 incidents opened by then; open ones reach every age bucket."""

SAO_PAULO = "America/Sao_Paulo"

LoadTickets = Callable[[pd.DataFrame], None]
MakeCollector = Callable[..., SqlCollector]


def local(instant: datetime, zone: str = "UTC") -> datetime:
    """The naive wall-clock time of an aware instant in ``zone``."""
    return pd.Timestamp(instant).tz_convert(zone).tz_localize(None).to_pydatetime()


def expected_queues(
    table: pd.DataFrame, window: Window, zone: str = "UTC", *, priority: bool = True
) -> tuple[QueueStats, ...]:
    """Per-queue figures of ``table`` (naive ``zone`` timestamps) computed with pandas."""
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    opened = table["opened_at"].dt.tz_localize(zone).dt.tz_convert("UTC")
    resolved = table["resolved_at"].dt.tz_localize(zone).dt.tz_convert("UTC")
    frame = table.assign(
        opened_utc=opened, resolved_utc=resolved, prio=table["priority"] if priority else ""
    )
    open_ = frame[frame["state"] == "open"]
    by_key = open_.groupby(["assignment_group", "state", "prio"]).size()
    created = frame[(opened >= start) & (opened < end)].groupby("assignment_group").size()
    done = frame[(resolved >= start) & (resolved < end)].groupby("assignment_group").size()
    oldest = open_.groupby("assignment_group")["opened_utc"].min()
    quantiles = {
        group: nearest_rank_ages(end - rows["opened_utc"])
        for group, rows in open_.groupby("assignment_group")
    }
    resolved_in = frame[(resolved >= start) & (resolved < end) & (frame["state"] != "open")]
    durations = (resolved_in["resolved_utc"] - resolved_in["opened_utc"]).dt.total_seconds()
    avg_resolution = durations.groupby(resolved_in["assignment_group"]).mean()
    age = end - open_["opened_utc"]
    older = {
        name: open_[age > pd.Timedelta(days=days)].groupby("assignment_group").size()
        for name, days in AGES.items()
    }
    queues = sorted(set(by_key.index.get_level_values(0)) | set(created.index) | set(done.index))
    return tuple(
        QueueStats(
            queue=q,
            open_by_status_priority={
                (status, prio): int(n) for (group, status, prio), n in by_key.items() if group == q
            },
            created=int(created.get(q, 0)),
            resolved=int(done.get(q, 0)),
            oldest_age_s=(end - oldest[q]).total_seconds() if q in oldest.index else None,
            older_than={name: int(counts.get(q, 0)) for name, counts in older.items()},
            age_quantiles=quantiles.get(q),
            avg_resolution_s=float(avg_resolution[q]) if q in avg_resolution.index else None,
        )
        for q in queues
    )


def expected_total(table: pd.DataFrame, window: Window) -> tuple[QueueStats, ...]:
    """The source's figures (queue :data:`TOTAL_QUEUE`), each ticket once, with pandas."""
    return expected_queues(table.assign(assignment_group=TOTAL_QUEUE), window)


def nearest_rank_ages(ages: pd.Series) -> dict[str, float]:
    """Age quantiles by nearest rank: the ceil(p * n)-th smallest age."""
    ordered = sorted(age.total_seconds() for age in ages)
    n = len(ordered)
    return {
        label: ordered[(n * p + 99) // 100 - 1]
        for label, p in (("0.5", 50), ("0.9", 90), ("0.99", 99))
    }


def rounded(queues: tuple[QueueStats, ...]) -> tuple[QueueStats, ...]:
    """Averages rounded to the millisecond (SQLite computes durations through julianday)."""
    return tuple(
        replace(
            q, avg_resolution_s=None if q.avg_resolution_s is None else round(q.avg_resolution_s, 3)
        )
        for q in queues
    )


def by_queue(snapshot: Snapshot) -> dict[str, QueueStats]:
    return {q.queue: q for q in snapshot.queues}


@pytest.fixture
def april_table(incidents: pd.DataFrame) -> pd.DataFrame:
    """The real store as of :data:`AS_OF` (timestamps read as UTC)."""
    return store_state(incidents, local(AS_OF))


class TestExactFigures:
    def test_figures_match_pandas_per_queue(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Open counts, throughput and aging equal the pandas figures for every queue."""
        load_tickets(april_table)
        collector = make_collector(db_url)
        window = Window(AS_OF - timedelta(days=1), AS_OF)

        snapshot = collector.collect(window)

        assert snapshot.source == "servicenow"
        assert snapshot.window == window
        assert snapshot.exactness == "exact"
        expected = expected_queues(april_table, window)
        assert len(expected) > 50
        assert rounded(snapshot.queues) == rounded(expected)
        assert snapshot.total is not None
        assert rounded((snapshot.total,)) == rounded(expected_total(april_table, window))

    def test_every_figure_is_exercised_by_the_data(self, april_table: pd.DataFrame) -> None:
        """The April slice has open tickets in every age bucket and traffic in the window."""
        window = Window(AS_OF - timedelta(days=1), AS_OF)
        expected = expected_queues(april_table, window)
        assert sum(q.open_total for q in expected) > 1000
        assert sum(q.created or 0 for q in expected) > 50
        assert sum(q.resolved or 0 for q in expected) > 50
        for name in AGES:
            assert sum((q.older_than or {})[name] for q in expected) > 0
        assert len({p for q in expected for _, p in q.open_by_status_priority}) == 4

    def test_figures_match_pandas_for_several_windows(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """An hour, a week and an empty window all give the pandas figures too, per queue
        and for the source (its quantiles are not those of any queue)."""
        load_tickets(april_table)
        collector = make_collector(db_url)
        for length in (timedelta(hours=1), timedelta(days=7), timedelta(0)):
            window = Window(AS_OF - length, AS_OF)
            snapshot = collector.collect(window)
            assert rounded(snapshot.queues) == rounded(expected_queues(april_table, window))
            assert snapshot.total is not None
            assert rounded((snapshot.total,)) == rounded(expected_total(april_table, window))

    def test_open_totals_match_the_table(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Each queue's open total equals its number of open rows, and they add up to all."""
        load_tickets(april_table)
        window = Window(AS_OF - timedelta(days=1), AS_OF)
        got = by_queue(make_collector(db_url).collect(window))
        open_ = april_table[april_table["state"] == "open"]
        for queue, n in open_.groupby("assignment_group").size().items():
            assert got[str(queue)].open_total == n
        assert sum(q.open_total for q in got.values()) == len(open_)


T0 = datetime(2016, 3, 9, tzinfo=UTC)
T1 = datetime(2016, 3, 9, 12, tzinfo=UTC)
T2 = datetime(2016, 3, 10, tzinfo=UTC)
PROBE = "Boundary probe"


def boundary_table(incidents: pd.DataFrame) -> pd.DataFrame:
    """The store as of T2, plus one ticket opened and one resolved exactly at T1."""
    return with_tickets(
        store_state(incidents, local(T2)),
        {
            "number": "PROBE0001",
            "assignment_group": PROBE,
            "priority": "3 - Moderate",
            "state": "open",
            "opened_at": local(T1),
            "resolved_at": None,
        },
        {
            "number": "PROBE0002",
            "assignment_group": PROBE,
            "priority": "2 - High",
            "state": "resolved",
            "opened_at": local(T0 - timedelta(days=1)),
            "resolved_at": local(T1),
        },
    )


class TestHalfOpenWindows:
    @pytest.fixture
    def table(self, incidents: pd.DataFrame) -> pd.DataFrame:
        """The store as of T2 with the two boundary tickets."""
        return boundary_table(incidents)

    def test_ticket_on_the_boundary_counts_in_the_later_window(
        self,
        db_url: str,
        table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """A ticket opened (or resolved) exactly at T1 counts in [T1,T2) and not in [T0,T1)."""
        load_tickets(table)
        collector = make_collector(db_url)

        first = by_queue(collector.collect(Window(T0, T1)))
        second = by_queue(collector.collect(Window(T1, T2)))

        assert (first[PROBE].created, first[PROBE].resolved) == (0, 0)
        assert (second[PROBE].created, second[PROBE].resolved) == (1, 1)

    def test_consecutive_windows_add_up_to_the_whole(
        self,
        db_url: str,
        table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Created/resolved over [T0,T1) plus [T1,T2) equal those over [T0,T2), per queue."""
        load_tickets(table)
        collector = make_collector(db_url)

        parts = [collector.collect(Window(a, b)) for a, b in ((T0, T1), (T1, T2))]
        whole = collector.collect(Window(T0, T2))

        for q in whole.queues:
            pieces = [by_queue(p).get(q.queue) for p in parts]
            assert sum(p.created or 0 for p in pieces if p) == q.created
            assert sum(p.resolved or 0 for p in pieces if p) == q.resolved
        expected = {q.queue: (q.created, q.resolved) for q in expected_queues(table, whole.window)}
        assert {q.queue: (q.created, q.resolved) for q in whole.queues} == expected

    def test_hourly_windows_partition_the_day(
        self,
        db_url: str,
        table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """24 back-to-back hourly windows count every ticket of the day exactly once."""
        load_tickets(table)
        collector = make_collector(db_url)
        created: dict[str, int] = {}
        resolved: dict[str, int] = {}
        for hour in range(24):
            start = T0 + timedelta(hours=hour)
            for q in collector.collect(Window(start, start + timedelta(hours=1))).queues:
                created[q.queue] = created.get(q.queue, 0) + (q.created or 0)
                resolved[q.queue] = resolved.get(q.queue, 0) + (q.resolved or 0)

        day = expected_queues(table, Window(T0, T2))
        assert {k: v for k, v in created.items() if v} == {
            q.queue: q.created for q in day if q.created
        }
        assert {k: v for k, v in resolved.items() if v} == {
            q.queue: q.resolved for q in day if q.resolved
        }


class TestTimezone:
    AS_OF = datetime(2016, 3, 15, 13, tzinfo=UTC)
    WINDOW = Window(datetime(2016, 3, 15, 12, tzinfo=UTC), AS_OF)
    TZ_PROBE = "Timezone probe"

    @pytest.fixture
    def table(self, incidents: pd.DataFrame) -> pd.DataFrame:
        """The store as of 10:00 São Paulo time, plus a ticket opened there at 09:30."""
        return with_tickets(
            store_state(incidents, local(self.AS_OF, SAO_PAULO)),
            {
                "number": "PROBE0003",
                "assignment_group": self.TZ_PROBE,
                "priority": "4 - Low",
                "state": "open",
                "opened_at": datetime(2016, 3, 15, 9, 30),
                "resolved_at": None,
            },
        )

    def test_naive_columns_are_read_in_the_mapped_zone(
        self,
        db_url: str,
        table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """With timezone America/Sao_Paulo, local 09:30 falls in the UTC window 12:00-13:00."""
        load_tickets(table)
        collector = make_collector(db_url, timezone=SAO_PAULO)

        snapshot = collector.collect(self.WINDOW)

        probe = by_queue(snapshot)[self.TZ_PROBE]
        assert probe.created == 1
        assert probe.oldest_age_s == 30 * 60
        assert rounded(snapshot.queues) == rounded(expected_queues(table, self.WINDOW, SAO_PAULO))

    def test_utc_mapping_reads_the_same_columns_three_hours_off(
        self,
        db_url: str,
        table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Read as UTC, the 09:30 ticket is outside 12:00-13:00 UTC and 3.5 hours old."""
        load_tickets(table)
        collector = make_collector(db_url)

        probe = by_queue(collector.collect(self.WINDOW))[self.TZ_PROBE]

        assert probe.created == 0
        assert probe.oldest_age_s == 3.5 * 3600


class TestOpenPredicate:
    def test_open_sql_matches_open_statuses(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """A raw open_sql predicate on another column gives the same snapshot as open_statuses."""
        load_tickets(april_table)
        window = Window(AS_OF - timedelta(days=1), AS_OF)
        by_status = make_collector(db_url).collect(window)
        by_sql = make_collector(db_url, open_statuses=None, open_sql="resolved_at IS NULL").collect(
            window
        )

        assert by_sql.queues == by_status.queues
        assert rounded(by_sql.queues) == rounded(expected_queues(april_table, window))


class TestWithoutPriority:
    def test_priority_label_is_empty(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Without a priority column every open count is keyed (status, "") and totals hold."""
        load_tickets(april_table)
        window = Window(AS_OF - timedelta(days=1), AS_OF)

        snapshot = make_collector(db_url, priority=None).collect(window)

        assert {p for q in snapshot.queues for _, p in q.open_by_status_priority} == {""}
        assert rounded(snapshot.queues) == rounded(
            expected_queues(april_table, window, priority=False)
        )


class TestErrors:
    WINDOW = Window(AS_OF - timedelta(hours=1), AS_OF)

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql+psycopg://u:s3cr3t@127.0.0.1:1/x",
            "mysql+pymysql://u:s3cr3t@127.0.0.1:1/x",
        ],
    )
    def test_unreachable_server_raises_source_unavailable(
        self, url: str, make_collector: MakeCollector
    ) -> None:
        """A refused connection is SourceUnavailable, and the message hides the URL."""
        with pytest.raises(SourceUnavailable) as caught:
            make_collector(url).collect(self.WINDOW)

        assert "s3cr3t" not in str(caught.value)
        assert url not in str(caught.value)
        assert str(caught.value).startswith("servicenow: ")

    def test_missing_table_raises_mapping_error(
        self, db_url: str, make_collector: MakeCollector
    ) -> None:
        """A mapped table that does not exist is a MappingError without the URL in it."""
        with pytest.raises(MappingError) as caught:
            make_collector(db_url, table="no_such_tickets").collect(self.WINDOW)

        assert "no_such_tickets" in str(caught.value)
        assert db_url not in str(caught.value)

    def test_missing_column_raises_mapping_error(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """A mapped column that does not exist is a MappingError, not an outage."""
        load_tickets(april_table.head(10))
        with pytest.raises(MappingError) as caught:
            make_collector(db_url, queue="no_such_column").collect(self.WINDOW)

        assert "no_such_column" in str(caught.value)

    @pytest.mark.parametrize(
        "open_sql",
        ["state = = 'open'", "no_such_function(state) = 1", "no_such_column IS NULL"],
        ids=["syntax", "function", "column"],
    )
    def test_broken_open_sql_raises_mapping_error(
        self,
        open_sql: str,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """An open_sql predicate the database rejects is a MappingError on every engine."""
        load_tickets(april_table.head(10))
        collector = make_collector(db_url, open_statuses=None, open_sql=open_sql)

        with pytest.raises(MappingError):
            collector.collect(self.WINDOW)

    @pytest.mark.parametrize(
        ("field", "figures"),
        [
            ("reopened_at", {"reopened"}),
            ("first_response_at", {"first_response", "sla_first_response"}),
        ],
    )
    def test_optional_field_on_a_missing_table_is_absent(
        self,
        field: str,
        figures: set[str],
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """An optional field reading a table that does not exist leaves its figures absent
        (None, named with the table) and every other figure exact, on every engine."""
        load_tickets(april_table)
        expression = "SELECT MAX(h.at) FROM ticket_history h WHERE h.ticket = t.number"
        collector = make_collector(
            db_url, **{field: expression}, first_response_due_at="resolved_at"
        )
        window = Window(AS_OF - timedelta(days=1), AS_OF)

        snapshot = collector.collect(window)

        states = {f.name: f for f in snapshot.figures}
        assert {n for n, f in states.items() if f.mapped and not f.available} == figures
        assert all("table ticket_history does not exist" in states[n].reason for n in figures)
        assert {q.reopened for q in snapshot.queues} == {None}
        assert {q.avg_first_response_s for q in snapshot.queues} == {None}
        if "sla_first_response" in figures:
            assert {q.sla_breached_open for q in snapshot.queues} == {None}
        core = [
            replace(q, sla_breached_open=None, sla_at_risk=None, sla_breached_window=None)
            for q in snapshot.queues
        ]
        assert rounded(tuple(core)) == rounded(expected_queues(april_table, window))

    @pytest.mark.mariadb
    def test_rejected_credentials_raise_auth_failed(
        self, mariadb_database: str, make_collector: MakeCollector
    ) -> None:
        """A MariaDB login with an unknown user is AuthFailed, and the password stays hidden."""
        url = sa.engine.make_url(mariadb_database).set(username="nobody", password="s3cr3t")

        with pytest.raises(AuthFailed) as caught:
            make_collector(url.render_as_string(hide_password=False)).collect(self.WINDOW)

        assert "s3cr3t" not in str(caught.value)


class TestReadOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            tickets.insert().values(
                number="WRITE0001",
                assignment_group="Writers",
                priority="4 - Low",
                state="open",
                opened_at=datetime(2016, 3, 1),
            ),
            tickets.delete(),
            tickets.update().values(state="resolved"),
        ],
        ids=["insert", "delete", "update"],
    )
    def test_collector_session_cannot_write(
        self,
        statement: sa.Executable,
        db_url: str,
        writer: sa.Engine,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """Writing through the collector's own engine fails and leaves the table unchanged."""
        load_tickets(april_table.head(100))
        engine = make_collector(db_url)._connect()

        with pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.?only"), engine.begin() as conn:
            conn.execute(statement)

        with writer.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar() == 100
            opened = sa.select(sa.func.count()).where(tickets.c.state == "open")
            assert (
                conn.execute(opened.select_from(tickets)).scalar()
                == (april_table.head(100)["state"] == "open").sum()
            )

    def test_session_still_reads_after_a_refused_write(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> None:
        """After a refused write the collector still answers with the right figures."""
        load_tickets(april_table)
        collector = make_collector(db_url)
        engine = collector._connect()
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(tickets.delete())

        window = Window(AS_OF - timedelta(days=1), AS_OF)
        assert rounded(collector.collect(window).queues) == rounded(
            expected_queues(april_table, window)
        )


class TestAggregationInSql:
    @pytest.fixture
    def statements(
        self,
        db_url: str,
        april_table: pd.DataFrame,
        load_tickets: LoadTickets,
        make_collector: MakeCollector,
    ) -> Iterator[tuple[SqlCollector, list[tuple[str, Any]]]]:
        """A warmed-up collector and the (statement, parameters) it runs from now on."""
        load_tickets(april_table)
        collector = make_collector(db_url)
        collector.collect(Window(AS_OF - timedelta(hours=1), AS_OF))  # connect, initialise
        seen: list[tuple[str, Any]] = []

        def record(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
        ) -> None:
            seen.append((statement, parameters))

        engine = collector._connect()
        sa.event.listen(engine, "before_cursor_execute", record)
        yield collector, seen
        sa.event.remove(engine, "before_cursor_execute", record)

    def test_every_statement_groups_in_the_database(
        self,
        statements: tuple[SqlCollector, list[tuple[str, Any]]],
        april_table: pd.DataFrame,
        writer: sa.Engine,
    ) -> None:
        """Each statement has GROUP BY and returns at most queues x statuses x priorities
        rows; on MariaDB/MySQL the age quantiles are instead looked up, at most one row per
        queue and quantile and three for the total (``collectors.sqllookups``)."""
        collector, seen = statements
        collector.collect(Window(AS_OF - timedelta(days=7), AS_OF))

        assert len(seen) == 4  # backlog, created, resolved, age quantiles
        bound = (
            april_table["assignment_group"].nunique()
            * april_table["state"].nunique()
            * april_table["priority"].nunique()
        )
        assert bound < len(april_table) / 10
        lookups = writer.dialect.name in ("mysql", "mariadb")
        with writer.connect() as conn:
            for number, (statement, parameters) in enumerate(seen):
                rows = conn.exec_driver_sql(statement, parameters).all()
                if lookups and number == 1:  # after the backlog, whose counts it uses
                    assert "GROUP BY" not in statement.upper()
                    queues = april_table["assignment_group"].nunique()
                    assert 0 < len(rows) <= 3 * queues + 3
                    continue
                assert "GROUP BY" in statement.upper()
                assert 0 < len(rows) <= bound


class TestSqliteTextTimestamps:
    """A SQLite store written by another application: DATETIME text without microseconds."""

    @pytest.fixture
    def url(self, tmp_path: Path, incidents: pd.DataFrame) -> Iterator[str]:
        """The store as of T2 with 'YYYY-MM-DD HH:MM:SS' text timestamps, as SQLite writes."""
        url = f"sqlite:///{tmp_path}/text.db"
        engine = sa.create_engine(url)
        metadata.create_all(engine)
        rows = [
            {
                **row,
                "opened_at": str(row["opened_at"]),
                "resolved_at": None if row["resolved_at"] is None else str(row["resolved_at"]),
            }
            for row in table_rows(boundary_table(incidents))
        ]
        insert = sa.text(
            "INSERT INTO tickets (number, assignment_group, priority, state, opened_at, "
            "resolved_at) VALUES (:number, :assignment_group, :priority, :state, :opened_at, "
            ":resolved_at)"
        )
        with engine.begin() as conn:
            conn.execute(insert, rows)
            stored = conn.exec_driver_sql("SELECT max(opened_at) FROM tickets").scalar()
        engine.dispose()
        assert len(stored) == len("2016-03-09 12:00:00")
        yield url

    def test_ticket_on_the_boundary_counts_in_the_later_window(
        self, url: str, make_collector: MakeCollector
    ) -> None:
        """A ticket stored as text exactly at T1 counts in [T1,T2), not in [T0,T1)."""
        collector = make_collector(url)

        first = by_queue(collector.collect(Window(T0, T1)))[PROBE]
        second = by_queue(collector.collect(Window(T1, T2)))[PROBE]

        assert (first.created, first.resolved) == (0, 0)
        assert (second.created, second.resolved) == (1, 1)

    def test_figures_match_pandas_with_sub_second_bounds(
        self, url: str, incidents: pd.DataFrame, make_collector: MakeCollector
    ) -> None:
        """Windows split at T1 + 0.5 s (a real clock has microseconds) give pandas' figures."""
        collector = make_collector(url)
        table = boundary_table(incidents)
        split = T1 + timedelta(milliseconds=500)

        for window in (Window(T0, split), Window(split, T2)):
            got = {q.queue: (q.created, q.resolved) for q in collector.collect(window).queues}
            expected = {q.queue: (q.created, q.resolved) for q in expected_queues(table, window)}
            assert got == expected
        final = Window(T0, T2)
        assert rounded(collector.collect(final).queues) == rounded(expected_queues(table, final))
