"""Status and queue as of a past instant from the help desk's own history (Znuny's
``ticket_history``), against pandas, on SQLite, PostgreSQL and MariaDB.

The tickets are the real ServiceNow incidents of :mod:`tests.collectors.upstream.story`
(every update before 4 April 2016 of the incidents open then or updated in the eight
days before), written the way Znuny writes them: a ``NewTicket`` row at creation, then a
``StateUpdate`` row for each update that changed the state and a ``Move`` row for each
update that changed the assignment group (the log's real reassignments), every row
carrying the ticket's state and queue after it. The ticket row holds the last ones.

pandas reads the same events (never the SQL): a ticket's status and queue at ``T`` are
those of its last event before ``T``; which tickets are open, created and resolved
follows the documented rule (``tests.collectors.asof``), each grouped by its queue at
``T``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.base import Window
from collectors.sql import SqlSourceConfig
from tests.collectors import asof
from tests.collectors.presets.pastcase import (
    WINDOW,
    collector,
    load,
    measured_at_instants,
    named_table,
)
from tests.collectors.upstream import dbs, ddl, story

SEEDS = ddl.load(dbs.HERE / "znuny" / "schema.yaml")["seeds"]
STATE = {"new": 1, "open": 4, "pending": 6, "resolved": 2, "closed": 2}
"""The log's categories as Znuny states: new, open, pending reminder, closed successful."""
PRIORITY = {1: 5, 2: 4, 3: 3, 4: 2}
NEW_TICKET, MOVE, STATE_UPDATE = 1, 16, 27
"""History types as Znuny's ``initial_insert.xml`` numbers them."""
OPEN_TYPES = ("new", "open", "pending reminder", "pending auto")
metadata = sa.MetaData()
named_table(metadata, "ticket_state_type", id_type=sa.SmallInteger)
named_table(
    metadata, "ticket_state", sa.Column("type_id", sa.SmallInteger), id_type=sa.SmallInteger
)
named_table(metadata, "ticket_priority", id_type=sa.SmallInteger)
named_table(metadata, "queue")
sa.Table(
    "ticket",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("queue_id", sa.Integer, nullable=False),
    sa.Column("ticket_state_id", sa.SmallInteger, nullable=False),
    sa.Column("ticket_priority_id", sa.SmallInteger, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("escalation_response_time", sa.Integer, nullable=False),
    sa.Column("escalation_solution_time", sa.Integer, nullable=False),
    sa.Column("create_time", sa.DateTime, nullable=False),
    sa.Column("change_time", sa.DateTime, nullable=False),
)
named_table(metadata, "ticket_history_type", id_type=sa.SmallInteger)
sa.Table(
    "ticket_history",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("history_type_id", sa.SmallInteger, nullable=False),
    sa.Column("ticket_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("queue_id", sa.Integer, nullable=False),
    sa.Column("state_id", sa.SmallInteger, nullable=False),
    sa.Column("create_time", sa.DateTime, nullable=False, index=True),
)
named_table(metadata, "article_sender_type", id_type=sa.SmallInteger)
sa.Table(
    "article",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("ticket_id", sa.BigInteger),
    sa.Column("article_sender_type_id", sa.SmallInteger),
    sa.Column("is_visible_for_customer", sa.SmallInteger),
    sa.Column("create_time", sa.DateTime),
)


@functools.cache
def changes() -> pd.DataFrame:
    """Per real update that changed the incident's state or group: ticket, at (naive
    UTC), state and queue names after it, kind (the history type), in the order the
    rows are written (time). The first update of each incident is its creation, at its
    opening time."""
    ev = story.events().copy()
    ev["group"] = ev.groupby("number")["group"].ffill().fillna("Raw")
    ev["state"] = ev["category"].map(STATE)
    first = ~ev["number"].duplicated()
    ev.loc[first, "at"] = ev.loc[first, "opened"]
    before = ev.groupby("number")[["state", "group"]].shift()
    moved = ev["group"] != before["group"]
    kind = (
        pd.Series(STATE_UPDATE, index=ev.index)
        .where(ev["state"] != before["state"], MOVE)
        .where(~first, NEW_TICKET)
    )
    keep = first | moved | (ev["state"] != before["state"])
    numbers = {n: i for i, n in enumerate(ev["number"].unique(), start=2)}
    written = pd.DataFrame(
        {
            "ticket": ev["number"].map(numbers),
            "at": ev["at"].dt.floor("s"),
            "state": ev["state"],
            "queue": ev["group"],
            "kind": kind,
            "priority": ev["priority"].map(PRIORITY),
        }
    )[keep]
    # Znuny writes a row as the change happens: rows are numbered in time order
    return written.sort_values("at", kind="stable").reset_index(drop=True)


def tables(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows to insert: Znuny's seeds, a queue per group, tickets, history."""
    names = sorted(history["queue"].unique())
    seeded = {r["name"]: r["id"] for r in SEEDS["queue"]}
    queue_id = {n: seeded.get(n, i) for i, n in enumerate(names, start=10)}
    last = history.groupby("ticket").tail(1).set_index("ticket")
    first = history.groupby("ticket").head(1).set_index("ticket")
    seed = {
        name: pd.DataFrame(SEEDS[name])
        for name in ("ticket_state_type", "ticket_state", "ticket_priority", "article_sender_type")
    }
    history_types = pd.DataFrame(
        {"id": [NEW_TICKET, MOVE, STATE_UPDATE], "name": ["NewTicket", "Move", "StateUpdate"]}
    )
    queues = pd.DataFrame({"name": list(queue_id), "id": list(queue_id.values())})
    return {
        **seed,
        "ticket_history_type": history_types,
        "queue": queues[["id", "name"]],
        "ticket": pd.DataFrame(
            {
                "id": last.index,
                "queue_id": last["queue"].map(queue_id).to_numpy(),
                "ticket_state_id": last["state"].to_numpy(),
                "ticket_priority_id": last["priority"].to_numpy(),
                "user_id": 1,
                "escalation_response_time": 0,
                "escalation_solution_time": 0,
                "create_time": first.loc[last.index, "at"].to_numpy(),
                "change_time": last["at"].to_numpy(),
            }
        ),
        "ticket_history": pd.DataFrame(
            {
                "id": range(1, len(history) + 1),
                "history_type_id": history["kind"],
                "ticket_id": history["ticket"],
                "queue_id": history["queue"].map(queue_id),
                "state_id": history["state"],
                "create_time": history["at"],
            }
        ),
    }


def expected(history: pd.DataFrame, rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
    """pandas: each ticket's status and queue as of ``instant`` from its events, open,
    created and resolved by the documented rule, grouped by the queue at ``instant``."""
    return asof.snapshot(frame(history, rows, instant), instant, WINDOW)


def frame(history: pd.DataFrame, rows: dict[str, pd.DataFrame], instant: datetime) -> pd.DataFrame:
    """The tickets as :mod:`tests.collectors.asof` reads them, with their status and queue
    as of ``instant`` (from their events)."""
    names = rows["ticket_state"].set_index("id")["name"]
    types = (
        rows["ticket_state"]
        .set_index("id")["type_id"]
        .map(rows["ticket_state_type"].set_index("id")["name"])
    )
    priority = rows["ticket_priority"].set_index("id")["name"]
    t = rows["ticket"].set_index("id")
    cut = story.utc_naive(instant)
    # the last row written (numbered) before the instant
    seen = history[history["at"] < cut].groupby("ticket").tail(1).set_index("ticket")
    state_then = seen["state"].reindex(t.index).fillna(t["ticket_state_id"]).astype(int)
    queues = rows["queue"].set_index("id")["name"]
    queue_then = seen["queue"].reindex(t.index).fillna(t["queue_id"].map(queues))
    closing = history[(history["kind"] != MOVE) & (history["state"].map(types) == "closed")]
    is_open = t["ticket_state_id"].map(types).isin(OPEN_TYPES)
    closed = t.index.to_series().map(closing.groupby("ticket")["at"].max()).where(~is_open)
    return pd.DataFrame(
        {
            "queue": queue_then,
            "status": state_then.map(names),
            "priority": t["ticket_priority_id"].map(priority),
            "open_now": is_open,
            "created": t["create_time"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(closed).dt.tz_localize("UTC"),
        }
    )


@pytest.fixture
def znuny(db_url: str) -> Iterator[tuple[str, pd.DataFrame, dict[str, pd.DataFrame]]]:
    history = changes()
    rows = tables(history)
    load(db_url, metadata, rows)
    yield db_url, history, rows


def test_status_and_queue_as_of_from_ticket_history(znuny: Any) -> None:
    url, history, rows = znuny
    for instant, got in measured_at_instants(url).items():
        assert got == expected(history, rows, instant), instant


def test_history_changes_the_answer(znuny: Any) -> None:
    """Without ``past_state`` the same instants group by today's status and queue, which
    differ: the comparison above could fail (the history moves tickets)."""
    url, history, rows = znuny
    moves = history[history["kind"] == MOVE]
    assert len(moves) > 500 and (history["kind"] == STATE_UPDATE).sum() > 5000
    for instant, now_based in measured_at_instants(url, past_state=None).items():
        want = expected(history, rows, instant)
        assert now_based["__total__"]["open"] == want["__total__"]["open"]
        assert now_based != want, instant


def test_live_poll_unchanged(znuny: Any) -> None:
    """Without --as-of the poll reads the ticket's current status and queue."""
    url, _, rows = znuny
    reader = collector(url)
    try:
        now = datetime(2016, 4, 4, 15, tzinfo=UTC)
        snapshot = reader.collect(Window(now - WINDOW, now))
    finally:
        reader.close()
    t = rows["ticket"]
    types = rows["ticket_state"].set_index("id")["type_id"]
    is_open = t["ticket_state_id"].map(types).isin([1, 2, 4, 5])
    queues = rows["queue"].set_index("id")["name"]
    want = t[is_open]["queue_id"].map(queues).value_counts().to_dict()
    assert {q.queue: q.open_total for q in snapshot.queues if q.open_total} == want


@pytest.mark.parametrize(
    ("past", "message"),
    [
        ({}, "past_state needs status, queue, queue_join or several"),
        ({"status": "SELECT 1"}, "past_state.status must compare a time with :as_of"),
        (
            {
                "status": "SELECT 1 WHERE :as_of IS NULL",
                "queue_changes": {"table": "ticket_history", "ticket": "ticket_id", "at": "x"},
            },
            "past_state.queue_changes needs past_state.queue",
        ),
    ],
)
def test_past_state_must_read_the_instant(past: dict[str, Any], message: str) -> None:
    """A ``past_state`` that does not compare with ``:as_of`` is a configuration error."""
    with pytest.raises(ValueError, match=message):
        SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "s",
                "url": "sqlite://",
                "mapping": {"preset": "znuny", "past_state": past},
            }
        )
