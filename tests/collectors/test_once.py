"""Each ticket's times are read once per statement, also in a zone with summer time.

Issue 18: the duration's summer-time correction is a ``CASE`` over the zone's offset
changes, and it used to name a field's expression once per change, so a field mapped as
a subquery (Znuny's first assignment and close time) was evaluated that many times per
ticket. Here the first assignment is a SQLite function that counts its calls per ticket.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from collectors.base import Window
from collectors.sql import SqlSourceConfig
from collectors.sqlqueries import PollQueries
from collectors.sqlreport import ReportQueries
from collectors.sqlworkload import WorkloadQueries

ZONE = ZoneInfo("Europe/Berlin")  # +1 h -> +2 h at 01:00 UTC on 27 March 2016
WINDOW = Window(datetime(2016, 3, 25, tzinfo=UTC), datetime(2016, 4, 1, tzinfo=UTC))

TICKETS = [  # number, status, created, first assigned, resolved (naive Berlin times)
    ("A", "closed", "2016-03-26 22:00:00", "2016-03-27 04:00:00", "2016-03-28 10:00:00"),
    ("B", "closed", "2016-03-25 08:00:00", "2016-03-25 09:30:00", "2016-03-29 12:00:00"),
    ("C", "closed", "2016-03-20 08:00:00", None, "2016-03-30 12:00:00"),
    ("D", "open", "2016-03-26 08:00:00", "2016-03-28 08:00:00", None),
    ("E", "closed", "2016-03-01 08:00:00", "2016-03-01 09:00:00", "2016-03-02 09:00:00"),
]
RESOLVED_IN_WINDOW = {"A", "B", "C"}


def elapsed(later: str, earlier: str) -> float:
    def instant(text: str) -> datetime:
        # in UTC: Python subtracts two times of the same zone as wall-clock times
        return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)

    return (instant(later) - instant(earlier)).total_seconds()


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def engine(calls: Counter[str]) -> Any:
    def first_assigned(number: str, at: str | None) -> str | None:
        calls[number] += 1
        return at

    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    sa.event.listen(
        engine,
        "connect",
        lambda dbapi, _record: dbapi.create_function("fa_once_first", 2, first_assigned),
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE fa_once_tickets (number TEXT, queue TEXT, status TEXT,"
            " created_at DATETIME, assigned_at DATETIME, resolved_at DATETIME)"
        )
        for number, status, created, assigned, resolved in TICKETS:
            conn.exec_driver_sql(
                "INSERT INTO fa_once_tickets VALUES (?, 'q', ?, ?, ?, ?)",
                (number, status, created, assigned, resolved),
            )
    yield engine
    engine.dispose()


def queries(**mapping: str) -> tuple[PollQueries, WorkloadQueries]:
    source = SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "once",
            "url": "sqlite://",
            "mapping": {
                "table": "fa_once_tickets",
                "id": "number",
                "queue": "queue",
                "status": "status",
                "created_at": "created_at",
                "resolved_at": "resolved_at",
                "first_assigned_at": "fa_once_first(t.number, t.assigned_at)",
                "open_statuses": ["open"],
                "timezone": "Europe/Berlin",
                **mapping,
            },
            "workload": {},
        }
    )

    def bind(_field: str, instant: datetime) -> Any:
        return sa.literal(str(instant.astimezone(ZONE).replace(tzinfo=None)), sa.String())

    return PollQueries(source.mapping, bind), WorkloadQueries(source.mapping, source.workload, bind)


def test_routing_reads_the_first_assignment_once_per_ticket(
    engine: sa.Engine, calls: Counter[str]
) -> None:
    """Once per resolved ticket, and the summed waits are elapsed time across the change."""
    _, wq = queries()
    with engine.connect() as conn:
        (row,) = conn.execute(wq.routing(WINDOW)).all()
    assert calls == dict.fromkeys(RESOLVED_IN_WINDOW, 1)
    waits = [elapsed(a, c) for n, _, c, a, r in TICKETS if n in RESOLVED_IN_WINDOW and a]
    assert waits[0] == 5 * 3600  # 22:00 to 04:00 local is 5 hours across the change
    assert (row.n, row.assigned) == (3, 2)
    assert row.first_assignment_s == pytest.approx(sum(waits))


def test_report_quantiles_read_it_once_per_ticket(engine: sa.Engine, calls: Counter[str]) -> None:
    q, _ = queries()
    statement = ReportQueries(q).first_assignment_quantiles(WINDOW, "sqlite")
    assert statement is not None
    with engine.connect() as conn:
        (row,) = conn.execute(statement).all()
    assert calls == dict.fromkeys(RESOLVED_IN_WINDOW, 1)
    assert row.n == 2
    # nearest rank of (1.5 h, 5 h): the first for the median, the second for p90
    assert (row.median, row.p90) == (pytest.approx(1.5 * 3600), pytest.approx(5 * 3600))


def test_resolved_reads_a_subquery_field_once_per_ticket(
    engine: sa.Engine, calls: Counter[str]
) -> None:
    """The poll's resolved figures: the first response (here the same counting function)
    read once per resolved ticket, its average still elapsed time."""
    q, _ = queries(first_response_at="fa_once_first(t.number, t.assigned_at)")
    with engine.connect() as conn:
        (row,) = conn.execute(q.resolved(WINDOW)).all()
    assert calls == dict.fromkeys(RESOLVED_IN_WINDOW, 1)
    answered = [elapsed(a, c) for n, _, c, a, r in TICKETS if n in RESOLVED_IN_WINDOW and a]
    took = [elapsed(r, c) for n, _, c, a, r in TICKETS if n in RESOLVED_IN_WINDOW]
    assert (row.n, row.fr_n, row.res_n) == (3, 2, 3)
    assert row.fr_sum == pytest.approx(sum(answered))
    assert row.res_sum == pytest.approx(sum(took))
