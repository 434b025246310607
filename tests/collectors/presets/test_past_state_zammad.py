"""Status and group as of a past instant from Zammad's ``histories``, against pandas, on
SQLite, PostgreSQL and MariaDB.

The same real updates as :mod:`tests.collectors.presets.test_past_state`, written the way
Zammad writes them: a ``histories`` row of attribute ``state`` (``id_from``, ``id_to``:
state ids) for each update that changed the state and one of attribute ``group`` (group
ids) for each that changed the group, ids in time order; the ticket row holds the last
state and group, ``close_at`` and ``last_close_at`` the first and last close (kept on
reopen). pandas reads the rows' ids (never the SQL) with the same rule as RT's: the value
entered by the last change before ``T``, else the one left by the first change at or
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
from tests.collectors.presets import test_past_state_rt as rt
from tests.collectors.presets.pastcase import WINDOW, as_of, load, measured_at_instants, named_table

STATE = {1: (1, "new"), 4: (2, "open"), 6: (3, "pending reminder"), 2: (4, "closed")}
"""Znuny's state ids of :func:`znuny.changes` -> Zammad's (id, name); types alike."""
STATE_ATTRIBUTE, GROUP_ATTRIBUTE = 1, 2

metadata = sa.MetaData()
for name in ("ticket_state_types", "ticket_priorities", "history_objects", "history_attributes"):
    named_table(metadata, name, length=250)
named_table(metadata, "ticket_states", sa.Column("state_type_id", sa.Integer), length=250)
named_table(metadata, "groups", length=250)
sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.Integer, nullable=False),
    sa.Column("state_id", sa.Integer, nullable=False),
    sa.Column("priority_id", sa.Integer, nullable=False),
    sa.Column("owner_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("close_at", sa.DateTime),
    sa.Column("last_close_at", sa.DateTime),
    sa.Column("first_response_at", sa.DateTime),
    sa.Column("first_response_escalation_at", sa.DateTime),
    sa.Column("close_escalation_at", sa.DateTime),
)
sa.Table(
    "histories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("history_object_id", sa.Integer, nullable=False),
    sa.Column("history_attribute_id", sa.Integer),
    sa.Column("o_id", sa.Integer, nullable=False, index=True),
    sa.Column("id_from", sa.Integer),
    sa.Column("id_to", sa.Integer),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


@functools.cache
def rows_of_zammad() -> dict[str, pd.DataFrame]:
    """Zammad's rows built from :func:`rt.rows_of_rt` (the same changes, RT's
    transactions giving each change's old and new value)."""
    r = rt.rows_of_rt()
    t, tx = r["tickets"], r["transactions"]
    by_name = {name: zid for zid, name in STATE.values()}
    changes = tx[tx["type"] != "Create"]
    is_state = changes["field"] == "Status"
    histories = pd.DataFrame(
        {
            "id": range(1, len(changes) + 1),
            "history_object_id": 1,
            "history_attribute_id": is_state.map({True: STATE_ATTRIBUTE, False: GROUP_ATTRIBUTE}),
            "o_id": changes["objectid"].to_numpy(),
            "id_from": changes["oldvalue"].map(lambda v: by_name.get(rt_name(v), v)).astype(int),
            "id_to": changes["newvalue"].map(lambda v: by_name.get(rt_name(v), v)).astype(int),
            "created_at": changes["created"].to_numpy(),
        }
    )
    closes = changes[is_state & (changes["newvalue"] == "resolved")].groupby("objectid")
    unset = t["resolved"] == rt.UNSET
    return {
        "ticket_state_types": pd.DataFrame(
            {"id": [1, 2, 3, 4], "name": ["new", "open", "pending reminder", "closed"]}
        ),
        "ticket_states": pd.DataFrame(
            {
                "id": [z for z, _ in STATE.values()],
                "name": [n for _, n in STATE.values()],
                "state_type_id": [z for z, _ in STATE.values()],
            }
        ),
        "ticket_priorities": pd.DataFrame({"id": [2], "name": ["2 normal"]}),
        "history_objects": pd.DataFrame({"id": [1], "name": ["Ticket"]}),
        "history_attributes": pd.DataFrame(
            {"id": [STATE_ATTRIBUTE, GROUP_ATTRIBUTE], "name": ["state", "group"]}
        ),
        "groups": r["queues"],
        "tickets": pd.DataFrame(
            {
                "id": t["id"],
                "group_id": t["queue"],
                "state_id": t["status"].map(lambda v: by_name[rt_name(v)]),
                "priority_id": 2,
                "owner_id": 1,
                "created_at": t["created"],
                "updated_at": t["lastupdated"],
                "close_at": t["id"].map(closes["created"].min()).where(~unset),
                "last_close_at": t["resolved"].where(~unset),
            }
        ),
        "histories": histories,
    }


def rt_name(value: str) -> str:
    """RT's status names as Zammad's (``stalled`` is ``pending reminder``)."""
    return {"stalled": "pending reminder", "resolved": "closed"}.get(value, value)


def expected(rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
    return asof.snapshot(frame(rows, instant), instant, WINDOW)


def frame(rows: dict[str, pd.DataFrame], instant: datetime) -> pd.DataFrame:
    """The tickets with their state and group as of ``instant`` (from ``histories``)."""
    t = rows["tickets"].set_index("id")
    h = rows["histories"]
    states = rows["ticket_states"].set_index("id")["name"]
    groups = rows["groups"].set_index("id")["name"]
    cut = pd.Timestamp(instant).tz_localize(None)

    def named(attribute: int, names: pd.Series) -> pd.DataFrame:
        mine = h[h["history_attribute_id"] == attribute]
        return pd.DataFrame(
            {
                "objectid": mine["o_id"],
                "created": mine["created_at"],
                "oldvalue": mine["id_from"].map(names),
                "newvalue": mine["id_to"].map(names),
            }
        )

    return pd.DataFrame(
        {
            "queue": as_of(named(GROUP_ATTRIBUTE, groups), t["group_id"].map(groups), cut),
            "status": as_of(named(STATE_ATTRIBUTE, states), t["state_id"].map(states), cut),
            "priority": "2 normal",
            "open_now": t["state_id"] != 4,
            "created": t["created_at"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(t["last_close_at"]).dt.tz_localize("UTC"),
        }
    )


@pytest.fixture
def zammad(db_url: str) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    rows = rows_of_zammad()
    load(db_url, metadata, rows)
    yield db_url, rows


def test_status_and_group_as_of_from_histories(zammad: Any) -> None:
    url, rows = zammad
    for instant, got in measured_at_instants(url, preset="zammad").items():
        assert got == expected(rows, instant), instant


def test_history_changes_the_answer(zammad: Any) -> None:
    url, rows = zammad
    for instant, got in measured_at_instants(url, preset="zammad", past_state=None).items():
        assert got != expected(rows, instant), instant
