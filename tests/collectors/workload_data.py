"""The ServiceNow incident log as a help desk's tables held them at an instant.

``tickets``: each incident's latest event before the instant (its state, group, assignee,
category, last update, counters). ``ticket_history``: one row per change of state (the
state it became) and per move to another assignment group after the first one, as a
help desk's audit table records them. Built once per instant from the real log
(``tests/data``); nothing is invented.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tests.data import SERVICENOW_LOG

OPEN_STATES = (
    "New",
    "Active",
    "Awaiting User Info",
    "Awaiting Vendor",
    "Awaiting Problem",
    "Awaiting Evidence",
)
WAITING = ("Awaiting User Info", "Awaiting Vendor", "Awaiting Problem", "Awaiting Evidence")
FORMAT = "%d/%m/%Y %H:%M"
RESOLUTION_TARGET = pd.Timedelta(days=3)
"""A stated policy (not data): every incident is due three days after it was opened."""

metadata = sa.MetaData()
tickets = sa.Table(
    "incidents",
    metadata,
    sa.Column("number", sa.String(20), primary_key=True),
    sa.Column("assignment_group", sa.String(40), nullable=False),
    sa.Column("assigned_to", sa.String(40)),
    sa.Column("incident_state", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40)),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("sys_updated_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolution_due_at", sa.DateTime),
    sa.Column("reassignment_count", sa.Integer, nullable=False),
    sa.Column("reopen_count", sa.Integer, nullable=False),
)
history = sa.Table(
    "incident_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("new_state", sa.String(40)),
    sa.Column("moved", sa.Integer, nullable=False),
)

MAPPING: dict[str, Any] = {
    "table": "incidents",
    "id": "number",
    "queue": "assignment_group",
    "status": "incident_state",
    "assignee": "assigned_to",
    "created_at": "opened_at",
    "resolved_at": "resolved_at",
    "updated_at": "sys_updated_at",
    "category": "category",
    "reassignments": "reassignment_count",
    "reopens": "reopen_count",
    "open_statuses": list(OPEN_STATES),
}
HISTORY: dict[str, Any] = {
    "table": "incident_history",
    "ticket": "number",
    "at": "changed_at",
    "status": "new_state",
    "queue_moves": "h.moved = 1",
}


@cache
def _events() -> pd.DataFrame:
    frame = pd.read_csv(SERVICENOW_LOG, dtype=str, keep_default_na=False)
    frame["opened_at"] = pd.to_datetime(frame["opened_at"], format=FORMAT)
    frame["sys_updated_at"] = pd.to_datetime(frame["sys_updated_at"], format=FORMAT)
    frame["seq"] = range(len(frame))
    return frame.sort_values(["number", "sys_updated_at", "seq"], kind="stable")


@cache
def store_tables(as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(tickets, history)`` as the help desk held them at the naive instant ``as_of``."""
    seen = _events()[_events()["sys_updated_at"] < pd.Timestamp(as_of)]
    state = seen["incident_state"]
    entered = state.ne(seen.groupby("number")["incident_state"].shift())
    group = seen["assignment_group"].where(seen["assignment_group"] != "?")
    before = group.groupby(seen["number"]).ffill()
    previous = before.groupby(seen["number"]).shift()
    moved = group.notna() & previous.notna() & (group != previous)
    events = seen.assign(entered=entered, moved=moved)
    resolved = events[events["entered"] & ~state.isin(OPEN_STATES)]
    last_resolved = resolved.groupby("number")["sys_updated_at"].max()
    last = events.groupby("number").tail(1).set_index("number")
    table = pd.DataFrame(
        {
            "number": last.index,
            "assignment_group": last["assignment_group"].to_numpy(),
            "assigned_to": last["assigned_to"].replace("?", None).to_numpy(),
            "incident_state": last["incident_state"].to_numpy(),
            "category": last["category"].replace("?", None).to_numpy(),
            "opened_at": last["opened_at"].to_numpy(),
            "sys_updated_at": last["sys_updated_at"].to_numpy(),
            "reassignment_count": last["reassignment_count"].astype(int).to_numpy(),
            "reopen_count": last["reopen_count"].astype(int).to_numpy(),
        }
    )
    done = ~table["incident_state"].isin(OPEN_STATES)
    table["resolved_at"] = table["number"].map(last_resolved).where(done)
    table["resolution_due_at"] = table["opened_at"] + RESOLUTION_TARGET
    changes = events[events["entered"] | events["moved"]]
    log = pd.DataFrame(
        {
            "number": changes["number"].to_numpy(),
            "changed_at": changes["sys_updated_at"].to_numpy(),
            "new_state": changes["incident_state"].where(changes["entered"]).to_numpy(),
            "moved": changes["moved"].astype(int).to_numpy(),
        }
    )
    return table.reset_index(drop=True), log


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python values (None for missing, datetime for timestamps) for an INSERT."""
    out = []
    for record in frame.to_dict("records"):
        out.append(
            {
                k: None
                if v is None or (not isinstance(v, str) and pd.isna(v))
                else v.to_pydatetime()
                if isinstance(v, pd.Timestamp)
                else int(v)
                if k in ("reassignment_count", "reopen_count", "moved")
                else v
                for k, v in record.items()
            }
        )
    return out


def load(engine: sa.Engine, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Create and fill both tables on ``engine``; returns the frames loaded."""
    table, log = store_tables(as_of)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(tickets.insert(), rows(table))
        conn.execute(history.insert(), rows(log))
    return table, log
