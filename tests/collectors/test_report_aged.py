"""The weekly report's aged list (the N oldest open tickets) on MariaDB: looked up in the
(queue, status) groups that can hold them (``collectors.sqlreport.aged_groups`` and
``ReportQueries.aged_lookup``), checked against pandas over the real ServiceNow
tickets, and against the one ordered statement PostgreSQL and SQLite keep."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlqueries import PollQueries
from collectors.sqlreport import ReportQueries, aged_groups
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF

WINDOW = Window(AS_OF - pd.Timedelta(days=7), AS_OF)
LIMITS = (1, 15, 60, 400)
UNDATED = 3
"""Open tickets whose creation time is made NULL (MariaDB orders them first)."""


def open_tickets(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["incident_state"].isin(data.OPEN_STATES)]


def backlog_rows(open_: pd.DataFrame) -> list[SimpleNamespace]:
    """The poll's backlog rows as pandas reads them: per (queue, status)."""
    out = []
    for (queue, status), group in open_.groupby(["assignment_group", "incident_state"]):
        dated = group["opened_at"].dropna()
        oldest = dated.min() if len(dated) else None
        out.append(
            SimpleNamespace(
                queue=queue, status=status, oldest=oldest, n=len(group), dated=len(dated)
            )
        )
    return out


class TestGroups:
    """Pure: the groups kept hold the N oldest open tickets, and few groups are kept."""

    def test_the_oldest_are_in_the_groups_kept(self) -> None:
        table, _ = data.store_tables(AS_OF.replace(tzinfo=None))
        open_ = open_tickets(table)
        rows = backlog_rows(open_)
        for limit in LIMITS:
            kept = set(aged_groups(rows, limit))
            oldest = open_.sort_values(["opened_at", "number"]).head(limit)
            held = set(zip(oldest["assignment_group"], oldest["incident_state"], strict=True))
            assert held <= kept, limit
            if limit <= 15:  # a few groups, not the hundreds there are
                assert len(kept) <= 2 * limit < len(rows), (limit, len(kept), len(rows))

    def test_a_group_with_an_undated_ticket_is_kept(self) -> None:
        """MariaDB orders a NULL creation time first: its group is kept however late
        its dated tickets are, and so is a group with none dated."""
        rows = [
            SimpleNamespace(queue="a", status="New", oldest=1, n=1, dated=1),
            SimpleNamespace(queue="b", status="New", oldest=2, n=1, dated=1),
            SimpleNamespace(queue="c", status="New", oldest=9, n=3, dated=2),
            SimpleNamespace(queue="d", status="New", oldest=None, n=2, dated=0),
            SimpleNamespace(queue="e", status="New", oldest=8, n=1, dated=1),
        ]
        assert sorted(aged_groups(rows, 2)) == [
            ("a", "New"),
            ("b", "New"),
            ("c", "New"),
            ("d", "New"),
        ]
        assert aged_groups(rows, 0) == []


@pytest.fixture(params=["mariadb", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[sa.Engine, pd.DataFrame]]:
    """The real tickets on a server, a few open ones without a creation time, and the
    recommended index for the aged list (``docs/workload.md``)."""
    maria = request.param == "mariadb"
    url: str = request.getfixturevalue("mariadb_database" if maria else "pg_database")
    engine = sa.create_engine(url)
    table, _ = data.load(engine, AS_OF.replace(tzinfo=None))
    undated = list(open_tickets(table).sort_values("number")["number"].iloc[5 : 5 + UNDATED])
    with engine.begin() as conn:
        if maria:
            conn.execute(sa.text("ALTER TABLE incidents MODIFY opened_at DATETIME NULL"))
            index = "incident_state, assignment_group, opened_at, number"
        else:
            conn.execute(sa.text("ALTER TABLE incidents ALTER COLUMN opened_at DROP NOT NULL"))
            index = "assignment_group, opened_at, number"
        conn.execute(sa.text(f"CREATE INDEX aged_open ON incidents ({index})"))
        conn.execute(
            sa.text("UPDATE incidents SET opened_at = NULL WHERE number IN :n").bindparams(
                sa.bindparam("n", expanding=True)
            ),
            {"n": undated},
        )
    table = table.copy()
    table.loc[table["number"].isin(undated), "opened_at"] = pd.NaT
    yield engine, table
    engine.dispose()


def collector(engine: sa.Engine) -> SqlCollector:
    config = SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "servicenow",
            "url": engine.url.render_as_string(hide_password=False),
            "mapping": data.MAPPING,
        }
    )
    return SqlCollector(config, engine=engine)


def reads(conn: sa.Connection) -> int:
    """MariaDB: the session's rows read so far (every ``Handler_read_*``)."""
    rows = conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all()
    return sum(int(value) for _, value in rows)


class TestOnServers:
    def test_aged_list_matches_pandas_and_the_ordered_statement(
        self, store: tuple[sa.Engine, pd.DataFrame]
    ) -> None:
        """For each size: the tickets, statuses and assignees of pandas' oldest open
        tickets (ties by number; NULL creation times first on MariaDB, last on
        PostgreSQL, as each orders them), from both report paths."""
        engine, table = store
        maria = engine.dialect.name != "postgresql"
        c = collector(engine)
        open_ = open_tickets(table)
        ordered = open_.sort_values(
            ["opened_at", "number"], na_position="first" if maria else "last"
        )
        for limit in LIMITS:
            expected = [
                (r.number, r.incident_state, None if pd.isna(r.assigned_to) else r.assigned_to)
                for r in ordered.head(limit).itertuples()
            ]
            _, built = c.collect_report(WINDOW, limit)
            alone = c.report(WINDOW, limit)
            for figures in (built, alone):
                assert [(t.id, t.status, t.assignee) for t in figures.aged] == expected, limit
            with engine.connect() as conn:
                plain = conn.execute(
                    ReportQueries(PollQueries(c.config.mapping, c._bind)).aged(limit)
                )
                assert [r.ticket for r in plain] == [t.id for t in built.aged]

    @pytest.mark.parametrize("store", ["mariadb"], indirect=True)
    def test_mariadb_reads_a_few_rows_per_group(
        self, store: tuple[sa.Engine, pd.DataFrame]
    ) -> None:
        """On MariaDB the aged list reads at most ``limit + 1`` index entries and rows per
        group kept, not every open ticket (the ordered statement reads them all; PostgreSQL
        keeps it)."""
        engine, table = store
        c = collector(engine)
        q = PollQueries(c.config.mapping, c._bind)
        limit = 15
        with engine.connect() as conn:
            backlog = conn.execute(q.backlog(WINDOW.end)).all()
            groups = aged_groups(backlog, limit)
            before = reads(conn)
            conn.execute(ReportQueries(q).aged_lookup(groups, limit)).all()
            looked = reads(conn) - before
            before = reads(conn)
            conn.execute(ReportQueries(q).aged(limit)).all()
            plain = reads(conn) - before
        n_open = len(open_tickets(table))
        assert plain >= n_open  # the ordered statement: every open ticket
        # an index entry and a row per ticket read, at most limit + 1 of them per group
        assert looked <= 2 * len(groups) * (limit + 1), (looked, len(groups))
        assert looked < n_open / 3, (looked, n_open)
