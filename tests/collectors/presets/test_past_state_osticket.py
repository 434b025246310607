"""Department as of a past instant from osTicket's thread events, against pandas, on
PostgreSQL and MariaDB.

The same real updates as :mod:`tests.collectors.presets.test_past_state` (the ServiceNow
incidents of :mod:`tests.collectors.upstream.story`), written the way osTicket logs them
(``ThreadEvent::forTicket`` stamps every event with the ticket's ``dept_id`` at that
moment): a ``created`` event, then for each update that changed the state a ``closed``
(``data`` ``{"status":[3,"Closed"]}``), ``reopened`` (no data) or ``edited`` event, and a
``transferred`` event after each change of department, ids in time order, each carrying
the department after the change. The ticket's thread is an ``ost_thread`` row of
``object_type`` ``'T'``; a task thread (``'A'``) of the same id with a later event of
another department is there to be skipped. The ticket row holds today's department and
status, ``closed`` its last close when it is closed now.

pandas reads the event rows (never the SQL): the department at ``T`` is that of the
ticket's last event before ``T``, else today's; the status is today's.

Not on SQLite: the preset's assignee uses ``CONCAT``, which SQLite 3.40 does not have.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.sqlmap import SqlMapping
from collectors.sqlsession import open_engine
from collectors.validate import check_mapping
from monitor.errors import MappingError
from tests.collectors import asof
from tests.collectors.presets import test_past_state as znuny
from tests.collectors.presets.pastcase import (
    SERVERS,
    WINDOW,
    drop_table,
    loaded_on_server,
    measured_at_instants,
)

OPEN, CLOSED = 1, 3
"""osTicket's seeded status ids: Open (state open) and Closed (state closed)."""
STATUSES = pd.DataFrame(
    {"id": [1, 2, 3], "name": ["Open", "Resolved", "Closed"], "state": ["open", "closed", "closed"]}
)
CLOSING = 2
"""Znuny's state id of :func:`znuny.changes` for resolved and closed."""

metadata = sa.MetaData()
sa.Table(
    "ost_ticket",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True),
    sa.Column("dept_id", sa.Integer, nullable=False),
    sa.Column("status_id", sa.Integer, nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=False),
    sa.Column("team_id", sa.Integer, nullable=False),
    sa.Column("duedate", sa.DateTime),
    sa.Column("est_duedate", sa.DateTime),
    sa.Column("reopened", sa.DateTime),
    sa.Column("closed", sa.DateTime),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("updated", sa.DateTime, nullable=False),
)
sa.Table(
    "ost_ticket_status",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("state", sa.String(16)),
)
sa.Table(
    "ost_department",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
)
sa.Table(
    "ost_ticket__cdata",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True),
    sa.Column("priority", sa.Text),
)
sa.Table(
    "ost_ticket_priority",
    metadata,
    sa.Column("priority_id", sa.Integer, primary_key=True),
    sa.Column("priority", sa.String(60), nullable=False),
)
sa.Table(
    "ost_thread",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object_id", sa.Integer, nullable=False, index=True),
    sa.Column("object_type", sa.String(1), nullable=False),
)
sa.Table(
    "ost_thread_entry",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("thread_id", sa.Integer, nullable=False),
    sa.Column("type", sa.String(1), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
)
sa.Table(
    "ost_thread_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("thread_id", sa.Integer, nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=False),
    sa.Column("team_id", sa.Integer, nullable=False),
    sa.Column("dept_id", sa.Integer, nullable=False),
    sa.Column("topic_id", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("data", sa.String(1024)),
    sa.Column("username", sa.String(128), nullable=False),
    sa.Column("annulled", sa.SmallInteger, nullable=False),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Index("ticket_state", "thread_id", "state", "timestamp"),  # shipped with osTicket
)


def events(history: pd.DataFrame, dept_id: dict[str, int]) -> pd.DataFrame:
    """Thread events from the changes (time order), each with the department after it;
    ticket ``n``'s thread is ``n``."""
    before = history.groupby("ticket")[["state", "queue"]].shift()
    first = before["state"].isna()
    closing = history["state"] == CLOSING
    rows = []
    for i in history.index:
        ticket, at, dept = int(history.at[i, "ticket"]), history.at[i, "at"], history.at[i, "queue"]
        if first[i]:
            rows.append((ticket, dept_id[dept], "created", None, at))
            continue
        if history.at[i, "state"] != before.at[i, "state"]:
            if closing[i]:
                rows.append((ticket, dept_id[dept], "closed", '{"status":[3,"Closed"]}', at))
            elif before.at[i, "state"] == CLOSING:
                rows.append((ticket, dept_id[dept], "reopened", None, at))
            else:
                rows.append((ticket, dept_id[dept], "edited", '{"status":1}', at))
        if dept != before.at[i, "queue"]:
            rows.append((ticket, dept_id[dept], "transferred", None, at))
    out = pd.DataFrame(rows, columns=["thread_id", "dept_id", "state", "data", "timestamp"])
    return out.assign(
        id=range(1, len(out) + 1), staff_id=0, team_id=0, topic_id=0, username="SYSTEM", annulled=0
    )


@functools.cache
def rows_of_osticket() -> dict[str, pd.DataFrame]:
    """osTicket's rows from :func:`znuny.changes` (built once per test run)."""
    history = znuny.changes()
    names = sorted(history["queue"].unique())
    dept_id = {n: i for i, n in enumerate(names, start=1)}
    last = history.groupby("ticket").tail(1).set_index("ticket")
    first = history.groupby("ticket").head(1).set_index("ticket")
    closed_now = last["state"] == CLOSING
    closes = history[history["state"] == CLOSING].groupby("ticket")["at"].max()
    ev = events(history, dept_id)
    tickets = last.index.to_numpy()
    # a task thread of the ticket's id, with a later event of another department
    task_id = len(tickets) + 10_000
    task_event = ev.iloc[[0]].assign(
        id=len(ev) + 1, thread_id=task_id, dept_id=len(names), timestamp=ev["timestamp"].min()
    )
    return {
        "ost_ticket_status": STATUSES,
        "ost_department": pd.DataFrame({"id": list(dept_id.values()), "name": list(dept_id)}),
        "ost_ticket": pd.DataFrame(
            {
                "ticket_id": tickets,
                "dept_id": last["queue"].map(dept_id).to_numpy(),
                "status_id": closed_now.map({True: CLOSED, False: OPEN}).to_numpy(),
                "staff_id": 0,
                "team_id": 0,
                "closed": closes.reindex(last.index).where(closed_now).to_numpy(),
                "created": first.loc[last.index, "at"].to_numpy(),
                "updated": last["at"].to_numpy(),
            }
        ),
        "ost_thread": pd.DataFrame(
            {
                "id": [*tickets, task_id],
                "object_id": [*tickets, int(tickets[0])],
                "object_type": ["T"] * len(tickets) + ["A"],
            }
        ),
        "ost_thread_event": pd.concat([ev, task_event], ignore_index=True),
    }


def frame(rows: dict[str, pd.DataFrame], instant: datetime) -> pd.DataFrame:
    """The tickets with their department as of ``instant`` (from every event of their
    thread, not only the transfers) and today's status."""
    t = rows["ost_ticket"].set_index("ticket_id")
    depts = rows["ost_department"].set_index("id")["name"]
    statuses = rows["ost_ticket_status"].set_index("id")
    threads = rows["ost_thread"]
    tickets = threads[threads["object_type"] == "T"].set_index("id")["object_id"]
    ev = rows["ost_thread_event"]
    ev = ev[ev["thread_id"].isin(tickets.index)]
    ev = ev.assign(ticket=ev["thread_id"].map(tickets))
    cut = pd.Timestamp(instant).tz_localize(None)
    then = ev[ev["timestamp"] < cut].sort_values("id").groupby("ticket")["dept_id"].last()
    return pd.DataFrame(
        {
            "queue": then.reindex(t.index).fillna(t["dept_id"]).astype(int).map(depts),
            "status": t["status_id"].map(statuses["name"]),
            "priority": "",  # no form data: the preset's empty label
            "open_now": t["status_id"].map(statuses["state"]) == "open",
            "created": t["created"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(t["closed"]).dt.tz_localize("UTC"),
        }
    )


def expected(rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
    return asof.snapshot(frame(rows, instant), instant, WINDOW)


@pytest.fixture(params=SERVERS)
def osticket_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    rows = rows_of_osticket()
    yield loaded_on_server(request, metadata, rows), rows


def test_department_as_of_from_thread_events(osticket_db: Any) -> None:
    url, rows = osticket_db
    ev = rows["ost_thread_event"]
    assert (ev["state"] == "transferred").sum() > 500
    for instant, got in measured_at_instants(url, preset="osticket").items():
        assert got == expected(rows, instant), instant


def test_history_changes_the_answer(osticket_db: Any) -> None:
    """Without ``past_state``, today's department: a different answer, same totals."""
    url, rows = osticket_db
    for instant, got in measured_at_instants(url, preset="osticket", past_state=None).items():
        want = expected(rows, instant)
        assert got["__total__"] == want["__total__"]
        assert got != want, instant


def test_check_config_runs_the_past_state(osticket_db: Any) -> None:
    """On osTicket's tables the preset's ``past_state`` passes ``check-config --connect``;
    without ``ost_thread_event`` it is a warning (the queue and its change rows, which
    ``backfill`` reads too) and ``snapshot --as-of`` fails on it."""
    url, _ = osticket_db
    engine = open_engine(url, timedelta(seconds=30))
    mapping = SqlMapping.model_validate({"preset": "osticket"})
    try:
        checked = check_mapping(engine, mapping, "osticket")
        # (on PostgreSQL the priority join compares an integer with text: osTicket runs on
        # MySQL/MariaDB, which convert; not a past_state matter)
        assert not [m for p, m in checked.problems + checked.warnings if "past_state" in p]
        drop_table(url, "ost_thread_event")
        checked = check_mapping(engine, mapping, "osticket")
    finally:
        engine.dispose()
    assert not [m for p, m in checked.problems if "past_state" in p]
    assert (
        "sources -> 0 -> mapping -> past_state -> queue",
        "preset osticket: the queue as of a past instant (snapshot --as-of, backfill) cannot"
        " be read: table ost_thread_event does not exist",
    ) in checked.warnings
    assert (
        "sources -> 0 -> mapping -> past_state -> queue_changes",
        "preset osticket: the rows that change the queue (backfill) cannot be read:"
        " table ost_thread_event does not exist",
    ) in checked.warnings
    with pytest.raises(MappingError, match="ost_thread_event"):
        measured_at_instants(url, preset="osticket")
