"""Status and queue as of a past instant from Request Tracker's ``Transactions``, against
pandas, on SQLite, PostgreSQL and MariaDB.

The same real updates as :mod:`tests.collectors.presets.test_past_state` (the ServiceNow
incidents of :mod:`tests.collectors.upstream.story`), written the way RT writes them: a
``Create`` transaction, then a ``Status`` transaction (old and new status) for each
update that changed the state and a ``Set``/``Queue`` transaction (old and new queue id)
for each update that changed the group, ids in time order. The ticket row holds the last
status and queue, ``resolved`` the last entry into ``resolved`` (kept on reopen, as RT
does), unset dates as RT's 1970 sentinel.

pandas reads the events (never the SQL): the status (queue) at ``T`` is the one entered by
the ticket's last change of it before ``T``, else the one left by its first change at or
after ``T``, else today's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.collectors import asof
from tests.collectors.presets import test_past_state as znuny
from tests.collectors.presets.pastcase import WINDOW, as_of, load, measured_at_instants, named_table

STATUS = {1: "new", 4: "open", 6: "stalled", 2: "resolved"}
"""Znuny's state ids of :func:`znuny.changes` as RT's default lifecycle names them."""
UNSET = datetime(1970, 1, 1)
NOBODY = 6
OPEN = ("new", "open", "stalled")

metadata = sa.MetaData()
named_table(metadata, "queues")
named_table(metadata, "users")
sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("effectiveid", sa.Integer, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("queue", sa.Integer, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("owner", sa.Integer, nullable=False),
    sa.Column("creator", sa.Integer, nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("resolved", sa.DateTime, nullable=False),
    sa.Column("due", sa.DateTime, nullable=False),
    sa.Column("lastupdated", sa.DateTime, nullable=False),
    sa.Index("tickets3", "effectiveid"),  # shipped with RT: merged tickets of a ticket
)
sa.Table(
    "transactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("objecttype", sa.String(64), nullable=False),
    sa.Column("objectid", sa.Integer, nullable=False),
    sa.Column("type", sa.String(20)),
    sa.Column("field", sa.String(40)),
    sa.Column("oldvalue", sa.String(255)),
    sa.Column("newvalue", sa.String(255)),
    sa.Column("creator", sa.Integer, nullable=False),
    sa.Column("created", sa.DateTime),
    sa.Index("transactions1", "objecttype", "objectid"),
)


def transactions(history: pd.DataFrame, queue_id: dict[str, int]) -> pd.DataFrame:
    """``Create``, ``Status`` and ``Set``/``Queue`` rows from the changes (time order)."""
    status = history["state"].map(STATUS)
    before = history.groupby("ticket")[["state", "queue"]].shift()
    first = before["state"].isna()
    rows = []
    for i in history.index:
        ticket, at = int(history.at[i, "ticket"]), history.at[i, "at"]
        if first[i]:
            rows.append((ticket, "Create", None, None, None, at))
            continue
        if history.at[i, "state"] != before.at[i, "state"]:
            old = STATUS[int(before.at[i, "state"])]
            rows.append((ticket, "Status", "Status", old, status[i], at))
        if history.at[i, "queue"] != before.at[i, "queue"]:
            old_q, new_q = queue_id[before.at[i, "queue"]], queue_id[history.at[i, "queue"]]
            rows.append((ticket, "Set", "Queue", str(old_q), str(new_q), at))
    out = pd.DataFrame(
        rows, columns=["objectid", "type", "field", "oldvalue", "newvalue", "created"]
    )
    return out.assign(id=range(1, len(out) + 1), objecttype="RT::Ticket", creator=1)


@functools.cache
def rows_of_rt() -> dict[str, pd.DataFrame]:
    """The rows of :func:`tables` (built once per test run; never modified)."""
    return tables(znuny.changes())


def tables(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    names = sorted(history["queue"].unique())
    queue_id = {n: i for i, n in enumerate(names, start=3)}
    last = history.groupby("ticket").tail(1).set_index("ticket")
    first = history.groupby("ticket").head(1).set_index("ticket")
    entered = history[history["state"].map(STATUS) == "resolved"]
    resolved = entered.groupby("ticket")["at"].max().reindex(last.index)
    return {
        "queues": pd.DataFrame({"id": list(queue_id.values()), "name": list(queue_id)}),
        "users": pd.DataFrame({"id": [1, NOBODY], "name": ["RT_System", "Nobody"]}),
        "tickets": pd.DataFrame(
            {
                "id": last.index,
                "effectiveid": last.index,
                "type": "ticket",
                "queue": last["queue"].map(queue_id).to_numpy(),
                "status": last["state"].map(STATUS).to_numpy(),
                "priority": 0,
                "owner": NOBODY,
                "creator": 1,
                "created": first.loc[last.index, "at"].to_numpy(),
                "resolved": resolved.fillna(UNSET).to_numpy(),
                "due": UNSET,
                "lastupdated": last["at"].to_numpy(),
            }
        ),
        "transactions": transactions(history, queue_id),
    }


def expected(rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
    return asof.snapshot(frame(rows, instant), instant, WINDOW)


def frame(rows: dict[str, pd.DataFrame], instant: datetime) -> pd.DataFrame:
    """The tickets with their status and queue as of ``instant`` (from the transactions)."""
    t = rows["tickets"].set_index("id")
    tx = rows["transactions"]
    queues = rows["queues"].set_index("id")["name"]
    cut = pd.Timestamp(instant).tz_localize(None)
    status = as_of(tx[tx["field"] == "Status"], t["status"], cut)
    moves = tx[tx["field"] == "Queue"]
    moves = moves.assign(
        newvalue=moves["newvalue"].astype(int).map(queues),
        oldvalue=moves["oldvalue"].astype(int).map(queues),
    )
    queue = as_of(moves, t["queue"].map(queues), cut)
    resolved = t["resolved"].where(t["resolved"] != UNSET)
    return pd.DataFrame(
        {
            "queue": queue,
            "status": status,
            "priority": "Low",
            "open_now": t["status"].isin(OPEN),
            "created": t["created"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(resolved).dt.tz_localize("UTC"),
        }
    )


@pytest.fixture
def rt(db_url: str) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    rows = rows_of_rt()
    load(db_url, metadata, rows)
    yield db_url, rows


def test_status_and_queue_as_of_from_transactions(rt: Any) -> None:
    url, rows = rt
    tx = rows["transactions"]
    assert (tx["field"] == "Queue").sum() > 500 and (tx["field"] == "Status").sum() > 5000
    for instant, got in measured_at_instants(url, preset="rt").items():
        assert got == expected(rows, instant), instant


def test_history_changes_the_answer(rt: Any) -> None:
    """Without ``past_state``, today's status and queue: a different answer."""
    url, rows = rt
    for instant, got in measured_at_instants(url, preset="rt", past_state=None).items():
        assert got != expected(rows, instant), instant
