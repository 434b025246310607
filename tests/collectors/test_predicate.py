"""The mapping's raw conditions (``where``, ``open_sql``) are written as given, never
compared with 1 or true, in every statement family on every dialect.

MariaDB, MySQL and SQLite have no native boolean: a boolean *column* under AND, OR or
NOT is written ``(sql) = 1`` or ``(sql) = 0``, which hides the condition's columns from
the optimizer (``docs/workload.md``, "The mapping's conditions"). Each statement the
poll, the age lookups, the workload section, the report, the backfill and the start-up
check build is compiled here for each dialect; the figures themselves are checked by
the exactness tests (``test_sql.py``, ``test_workload.py``, the presets' tests) on
SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from collectors.base import Window
from collectors.sqlhourly import hourly_statement
from collectors.sqllookups import _statement as age_lookups
from collectors.sqlmap import SqlMapping
from collectors.sqlqueries import Condition, PollQueries
from collectors.sqlreport import ReportQueries
from collectors.sqlworkload import WorkloadQueries
from collectors.workload import WorkloadConfig

WHERE = "t.kind_marker = 'ticket' AND t.merged_marker IS NULL"
OPEN = "t.state_marker IN (1, 2, 3)"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=7), NOW)

MAPPING = SqlMapping.model_validate(
    {
        "table": "tickets",
        "where": WHERE,
        "open_sql": OPEN,
        "queue": "queue",
        "status": "status",
        "priority": "priority",
        "assignee": "agent",
        "created_at": "created",
        "resolved_at": "resolved",
        "first_response_at": "answered",
        "first_response_due_at": "answer_due",
        "resolution_due_at": "due",
        "reopened_at": "reopened",
        "updated_at": "updated",
        "category": "category",
        "reassignments": "moves",
        "reopens": "reopens",
    }
)
WORKLOAD = WorkloadConfig.model_validate(
    {"stale_after": ["3d"], "waiting_statuses": ["waiting"], "top_categories": 3}
)

DIALECTS: dict[str, Dialect] = {
    "mysql": mysql.dialect(),
    "mariadb": mysql.dialect(is_mariadb=True),
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}


def bind(_field: str, instant: datetime) -> Any:
    return instant.replace(tzinfo=None)


def statements(dialect: str) -> Iterator[tuple[str, Any]]:
    """Every statement family that reads ``where`` or the open predicate, by name."""
    for total in (False, True):
        for as_of in (None, NOW - timedelta(days=30)):
            q = PollQueries(MAPPING, bind, total=total, as_of=as_of)
            name = f"poll{' total' if total else ''}{' as of' if as_of else ''}"
            yield f"{name} backlog", q.backlog(NOW)
            yield f"{name} created", q.created(WINDOW)
            yield f"{name} resolved", q.resolved(WINDOW)
            yield f"{name} sla breaches", q.sla_breaches(WINDOW)
            yield f"{name} reopened", q.reopened(WINDOW)
            yield f"{name} quantiles", q.quantiles(dialect, with_total=not total)
            yield f"{name} age lookups", age_lookups(q, () if total else (False, True), True)
            report = ReportQueries(q)
            yield f"{name} resolution", report.resolution_quantiles(WINDOW, dialect, True)
            yield f"{name} first response", report.first_response_quantiles(WINDOW, dialect)
            yield f"{name} sla attainment", report.sla_attainment(WINDOW)
            yield f"{name} aged", report.aged(20)
        q = PollQueries(MAPPING, bind, total=total)
        yield f"backfill{' total' if total else ''}", hourly_statement(q, dialect, NOW, 24)
        yield "backfill carried", hourly_statement(q, dialect, NOW, 24, carried=True)
    w = WorkloadQueries(MAPPING, WORKLOAD, bind)
    yield "workload agents", w.agents()
    yield "workload stale", w.stale(NOW)
    yield "workload waiting", w.waiting()
    yield "workload stale list", w.listed("stale")
    yield "workload waiting list", w.listed("waiting")
    yield "workload stale lookups", w.listed_lookup("stale", (False, True))
    yield "workload waiting lookups", w.listed_lookup("waiting", (False,))
    yield "workload routing", w.routing(WINDOW)
    yield "workload open categories", w.categories(None)
    yield "workload arrivals", w.categories(WINDOW)
    q = PollQueries(MAPPING, lambda _field, instant: instant)
    # collectors.validate._predicate_runs: each condition alone, with a false one
    never = sa.literal_column("1") == sa.literal_column("0")
    yield "validate where", sa.select(sa.literal(1)).where(*q.scope(), never)
    yield "validate open", sa.select(sa.literal(1)).where(q.open_predicate(), never)


WITHOUT_OPEN = ("created", "reopened", "first response", "arrivals", "validate where")
"""The statements that read no open predicate (arrivals, first answers, reopens)."""


def compiled(statement: Any, dialect: Dialect) -> str:
    return " ".join(str(statement.compile(dialect=dialect)).split())


COMPARED = re.compile(r"^\s*(=|<>|!=|IS\b)", re.IGNORECASE)


def comparisons(sql: str, condition: str) -> list[str]:
    """The text after each occurrence of ``(condition)`` that compares it with something."""
    written = f"({condition})"
    parts = sql.split(written)
    return [after[:12] for after in parts[1:] if COMPARED.match(after)]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_conditions_are_written_as_given(dialect: str) -> None:
    seen = 0
    for name, statement in statements(dialect):
        assert statement is not None, name
        sql = compiled(statement, DIALECTS[dialect])
        if name != "validate open":
            assert f"({WHERE})" in sql, (name, sql)
        if not name.endswith(WITHOUT_OPEN):
            assert f"({OPEN})" in sql, (name, sql)
        for condition in (WHERE, OPEN):
            assert not comparisons(sql, condition), (name, condition, sql)
        assert not re.search(r"\)\s*=\s*(1|0|true|false)\b", sql, re.IGNORECASE), (name, sql)
        seen += 1
    assert seen == 60


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_not_and_or_and_case_of_a_condition(dialect: str) -> None:
    """NOT gives ``NOT (sql)``; AND, OR and CASE WHEN keep ``(sql)`` (nested too)."""
    c, d = Condition("a = 1"), Condition("b LIKE 'x:y%'")
    statement = sa.select(
        sa.func.sum(sa.case((sa.and_(c, sa.not_(d)), 1), else_=0)),
        sa.case((c, "yes"), else_="no"),
    ).where(sa.or_(c, sa.and_(sa.not_(c), d)), sa.not_(sa.or_(c, d)))
    sql = compiled(statement, DIALECTS[dialect])
    percent = "%%" if dialect != "sqlite" else "%"  # the drivers' paramstyle escapes it
    d_sql = f"(b LIKE 'x:y{percent}')"
    assert f"CASE WHEN ((a = 1) AND NOT {d_sql}) THEN" in sql
    assert "CASE WHEN (a = 1) THEN" in sql
    assert f"WHERE ((a = 1) OR NOT (a = 1) AND {d_sql}) AND NOT ((a = 1) OR {d_sql})" in sql
    assert not re.search(r"\)\s*=\s*(1|0|true|false)\b", sql, re.IGNORECASE), sql
    # ':y' is no bind parameter: the text is not parsed (as a literal column's is not)
    assert "y" not in statement.compile(dialect=DIALECTS[dialect]).params


def test_conditions_have_distinct_cache_keys() -> None:
    """Two texts are two statements in SQLAlchemy's compiled cache; equal texts one."""
    one, two = Condition("a = 1"), Condition("a = 2")
    key = sa.select(sa.literal(1)).where(one)._generate_cache_key()
    assert key is not None
    assert key != sa.select(sa.literal(1)).where(two)._generate_cache_key()
    assert key == sa.select(sa.literal(1)).where(Condition("a = 1"))._generate_cache_key()


def test_a_condition_selects_the_same_rows_on_sqlite() -> None:
    """Rows with a NULL, a false and a true condition: WHERE keeps the true ones, NOT
    the false ones (NULL neither), as the condition written by hand."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER, v INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 1), (2, 5), (3, NULL), (4, 0)"))
        cond = Condition("t.v > 2")
        ids: sa.ColumnClause[Any] = sa.literal_column("t.id")
        base = sa.select(ids).select_from(sa.text("t")).order_by(ids)
        assert conn.execute(base.where(cond)).scalars().all() == [2]
        assert conn.execute(base.where(sa.not_(cond))).scalars().all() == [1, 4]
        assert conn.execute(base.where(sa.or_(cond, ids == 1))).scalars().all() == [1, 2]
