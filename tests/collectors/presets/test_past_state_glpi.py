"""Status and assigned groups as of a past instant from GLPI's ``glpi_logs``, against
pandas, on PostgreSQL and MariaDB.

The same real updates as :mod:`tests.collectors.presets.test_past_state` (the ServiceNow
incidents of :mod:`tests.collectors.upstream.story`), written the way GLPI logs them, ids
in time order: a status change (``Log::constructHistory``) as a row of ``itemtype``
``'Ticket'``, ``linked_action`` 0 and ``id_search_option`` 12 holding the old and new
status integers as text; a move from group A to group B as relation rows of
``itemtype_link`` ``'Group'`` and ``id_search_option`` 8 (the group as ``name (id)``):
B added (``linked_action`` 15) at the update, A removed (16) at the ticket's next update
at a later time, or never, so that a ticket holds both groups in between; and the
creation row (20), to be skipped. The ticket row holds the last status,
``solvedate``/``closedate`` of its last close when it is closed now (GLPI clears both on
reopen); ``glpi_groups_tickets`` the groups the relation rows leave assigned.

pandas reads the log rows (never the SQL): the status with RT's and Zammad's rule (the
status entered by the ticket's last change before ``T``, else the one left by its first
change at or after ``T``, else today's); each group with the same rule on its relation
rows (added by the last row before ``T``, else removed by the first at or after it, else
one of today's links). Each ticket counts in every group it held at ``T``, once in the
total.

Not on SQLite: the preset's labels use ``CONCAT``, which SQLite 3.40 does not have.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from collectors.presets import glpi
from collectors.sqlmap import PastState, SqlMapping
from collectors.sqlsession import open_engine
from collectors.validate import check_mapping
from monitor.errors import MappingError
from tests.collectors import asof
from tests.collectors.presets import test_past_state_rt as rt
from tests.collectors.presets.pastcase import (
    SERVERS,
    WINDOW,
    as_of,
    drop_table,
    loaded_on_server,
    measured_at_instants,
)

STATUS = {"new": 1, "open": 2, "stalled": 4, "resolved": 6}
"""RT's status names of :func:`rt.rows_of_rt` as GLPI's status integers (New, Processing
(assigned), Pending, Closed)."""
LABELS = dict(glpi.STATUS_LABELS)
STATUS_OPTION, GROUP_OPTION = 12, 8
UPDATE, ADD_RELATION, DEL_RELATION, CREATE_ITEM = 0, 15, 16, 20
"""``Log::HISTORY_*`` values of the rows written."""
MAPPING = "sources -> 0 -> mapping"
PAST_STATE_STATUS: str = glpi.PAST_STATE["status"]

metadata = sa.MetaData()
sa.Table(
    "glpi_tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("is_deleted", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("itilcategories_id", sa.Integer, nullable=False),
    sa.Column("date", sa.DateTime),
    sa.Column("solvedate", sa.DateTime),
    sa.Column("closedate", sa.DateTime),
    sa.Column("takeintoaccountdate", sa.DateTime),
    sa.Column("time_to_own", sa.DateTime),
    sa.Column("time_to_resolve", sa.DateTime),
    sa.Column("date_mod", sa.DateTime),
)
sa.Table(
    "glpi_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("completename", sa.Text),
)
sa.Table(
    "glpi_groups_tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tickets_id", sa.Integer, nullable=False),
    sa.Column("groups_id", sa.Integer, nullable=False),
    sa.Column("type", sa.Integer, nullable=False),
    sa.UniqueConstraint("tickets_id", "type", "groups_id", name="unicity"),
)
sa.Table(
    "glpi_tickets_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tickets_id", sa.Integer, nullable=False),
    sa.Column("users_id", sa.Integer, nullable=False),
    sa.Column("type", sa.Integer, nullable=False),
    # shipped with GLPI as unicity (tickets_id, type, users_id, alternative_email): the
    # assignee's lookup per ticket (an index name is per schema on PostgreSQL)
    sa.UniqueConstraint("tickets_id", "type", "users_id", name="tickets_users_unicity"),
)
sa.Table(
    "glpi_itilcategories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("completename", sa.Text),
)
sa.Table(
    "glpi_logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("itemtype", sa.String(100), nullable=False),
    sa.Column("items_id", sa.Integer, nullable=False),
    sa.Column("itemtype_link", sa.String(100), nullable=False),
    sa.Column("linked_action", sa.Integer, nullable=False),
    sa.Column("user_name", sa.String(255)),
    sa.Column("date_mod", sa.DateTime),
    sa.Column("id_search_option", sa.Integer, nullable=False),
    sa.Column("old_value", sa.String(255)),
    sa.Column("new_value", sa.String(255)),
    sa.Index("item", "itemtype", "items_id"),  # shipped with GLPI
)


def logs(tx: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """``glpi_logs`` rows from RT's transactions (time order): the creation, each status
    change (integers as text) and each move from group A to group B as GLPI logs the
    assigned groups' relation (``name (id)``): B added at the move, A removed at the
    ticket's next change at a later time (or never), so that a ticket holds both groups
    in between (a ticket's group at its creation has no row)."""
    rows: list[tuple[Any, ...]] = []
    pending: dict[int, tuple[Any, list[int]]] = {}

    def relation(ticket: int, action: int, group: int, at: Any) -> tuple[Any, ...]:
        text = f"{groups[group]} ({group})"
        old, new = ("", text) if action == ADD_RELATION else (text, "")
        return (ticket, "Group", action, at, GROUP_OPTION, old, new)

    for r in tx.itertuples():
        ticket, at = int(r.objectid), r.created
        if ticket in pending and pending[ticket][0] < at:
            rows += [relation(ticket, DEL_RELATION, g, at) for g in pending.pop(ticket)[1]]
        if r.type == "Create":
            rows.append((ticket, "", CREATE_ITEM, at, 0, "", ""))
        elif r.field == "Status":
            old, new = str(STATUS[r.oldvalue]), str(STATUS[r.newvalue])
            rows.append((ticket, "", UPDATE, at, STATUS_OPTION, old, new))
        else:
            leaving = pending.setdefault(ticket, (at, []))[1]
            if int(r.newvalue) in leaving:  # moved back before the removal: still assigned
                leaving.remove(int(r.newvalue))
            else:
                rows.append(relation(ticket, ADD_RELATION, int(r.newvalue), at))
            leaving.append(int(r.oldvalue))
    columns = ["items_id", "itemtype_link", "linked_action", "date_mod", "id_search_option"]
    out = pd.DataFrame(rows, columns=[*columns, "old_value", "new_value"])
    return out.assign(id=range(1, len(out) + 1), itemtype="Ticket", user_name="glpi (2)")


def groups_then(rows: dict[str, pd.DataFrame], cut: pd.Timestamp) -> pd.DataFrame:
    """``(ticket, group)`` of every group assigned to a ticket at ``cut``, from the
    relation rows: the last row before ``cut`` added it, else the first at or after it
    removed it, else (no row) it is one of today's links."""
    log = rows["glpi_logs"]
    rel = log[(log["itemtype_link"] == "Group") & (log["id_search_option"] == GROUP_OPTION)]
    text = rel["new_value"].where(rel["linked_action"] == ADD_RELATION, rel["old_value"])
    rel = rel.assign(group=text.str.extract(r"\((\d+)\)$")[0].astype(int)).sort_values("id")
    key = ["items_id", "group"]
    before = rel[rel["date_mod"] < cut].groupby(key)["linked_action"].last()
    after = rel[rel["date_mod"] >= cut].groupby(key)["linked_action"].first()
    links = rows["glpi_groups_tickets"]
    today = pd.Series(
        True, index=pd.MultiIndex.from_arrays([links["tickets_id"], links["groups_id"]])
    )
    pairs = before.index.union(after.index).union(today.index)
    assigned = (
        (before.reindex(pairs) == ADD_RELATION)
        .where(before.reindex(pairs).notna(), after.reindex(pairs) == DEL_RELATION)
        .where(before.reindex(pairs).notna() | after.reindex(pairs).notna(), today.reindex(pairs))
        .fillna(False)
        .astype(bool)
    )
    held = assigned[assigned].index.to_frame(index=False)
    return held.set_axis(["ticket", "group"], axis=1)


@functools.cache
def rows_of_glpi() -> dict[str, pd.DataFrame]:
    """GLPI's rows built from :func:`rt.rows_of_rt` (the same changes); the assigned
    groups of today are those the relation rows leave."""
    r = rt.rows_of_rt()
    t = r["tickets"]
    groups = r["queues"].set_index("id")["name"]
    tx = r["transactions"]
    moves = tx[tx["field"] == "Queue"]
    first = moves.groupby("objectid")["oldvalue"].first().astype(int)
    first_group = first.reindex(t["id"]).fillna(t.set_index("id")["queue"]).astype(int)
    log = logs(tx, groups)
    closed_now = t["status"] == "resolved"
    resolved = t["resolved"].where(closed_now & (t["resolved"] != rt.UNSET))
    out = {
        "glpi_groups": pd.DataFrame({"id": groups.index, "completename": groups.to_numpy()}),
        "glpi_tickets": pd.DataFrame(
            {
                "id": t["id"],
                "is_deleted": 0,
                "status": t["status"].map(STATUS),
                "priority": 3,
                "itilcategories_id": 0,
                "date": t["created"],
                "solvedate": resolved,
                "closedate": resolved,
                "date_mod": t["lastupdated"],
            }
        ),
        "glpi_logs": log,
    }
    # today's links: every group the rows leave assigned (the first group of a ticket
    # never moved has no row)
    first_links = pd.DataFrame({"tickets_id": first_group.index, "groups_id": first_group})
    held = groups_then({**out, "glpi_groups_tickets": first_links}, pd.Timestamp.max)
    out["glpi_groups_tickets"] = pd.DataFrame(
        {
            "id": range(1, len(held) + 1),
            "tickets_id": held["ticket"].to_numpy(),
            "groups_id": held["group"].to_numpy(),
            "type": 2,
        }
    )
    return out


def frame(rows: dict[str, pd.DataFrame], instant: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tickets with their status as of ``instant``, and one row per ticket and group
    assigned to it then (``(unassigned)`` without any)."""
    t = rows["glpi_tickets"].set_index("id")
    log = rows["glpi_logs"]
    mine = log[(log["id_search_option"] == STATUS_OPTION) & (log["linked_action"] == UPDATE)]
    changes = pd.DataFrame(
        {
            "objectid": mine["items_id"],
            "created": mine["date_mod"],
            "oldvalue": mine["old_value"].astype(int).map(LABELS),
            "newvalue": mine["new_value"].astype(int).map(LABELS),
        }
    )
    names = rows["glpi_groups"].set_index("id")["completename"]
    cut = pd.Timestamp(instant).tz_localize(None)
    tickets = pd.DataFrame(
        {
            "queue": "(unassigned)",
            "status": as_of(changes, t["status"].map(LABELS), cut),
            "priority": "Medium",
            "open_now": t["status"].isin([1, 2, 3, 4]),
            "created": t["date"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(t["solvedate"]).dt.tz_localize("UTC"),
        }
    )
    held = groups_then(rows, cut)
    grouped = tickets.loc[held["ticket"]].assign(queue=held["group"].map(names).to_numpy())
    alone = tickets[~tickets.index.isin(held["ticket"])]
    return tickets, pd.concat([grouped, alone])


def expected(rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
    """Per group (a ticket in every group it held at ``instant``) and the total (each
    ticket once)."""
    tickets, in_groups = frame(rows, instant)
    out = asof.snapshot(in_groups, instant, WINDOW)
    out["__total__"] = asof.snapshot(tickets, instant, WINDOW)["__total__"]
    return out


@pytest.fixture(params=SERVERS)
def glpi_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    rows = rows_of_glpi()
    yield loaded_on_server(request, metadata, rows), rows


def test_status_and_groups_as_of_from_glpi_logs(glpi_db: Any) -> None:
    url, rows = glpi_db
    log = rows["glpi_logs"]
    assert (log["id_search_option"] == STATUS_OPTION).sum() > 5000
    assert (log["linked_action"] == ADD_RELATION).sum() > 500
    assert (log["linked_action"] == DEL_RELATION).sum() > 500
    for instant, got in measured_at_instants(url, preset="glpi").items():
        # some tickets held two groups at the instant
        assert frame(rows, instant)[1].index.duplicated().sum() > 300
        assert got == expected(rows, instant), instant


def test_history_changes_the_answer(glpi_db: Any) -> None:
    """Without ``past_state``, today's status: a different answer, same totals."""
    url, rows = glpi_db
    for instant, got in measured_at_instants(url, preset="glpi", past_state=None).items():
        want = expected(rows, instant)
        assert got["__total__"]["open"] == want["__total__"]["open"]
        assert got != want, instant


@pytest.mark.parametrize(
    ("part", "change"),
    [
        ("queue_join", {"table": glpi.GROUPS_AS_OF.replace("gt.groups_id FROM", "gt.group FROM")}),
        ("queue_join -> held", {"held": glpi.SPAN_HELD.replace("gt.held_from", "gt.held_since")}),
        ("queue_join -> changes", {"changes": {**glpi.GROUP_CHANGES, "at": "h.logged_at"}}),
    ],
    ids=["queue_join", "held", "changes"],
)
def test_check_config_runs_the_groups_as_of(glpi_db: Any, part: str, change: dict) -> None:
    """``check-config --connect`` runs the groups' join as of an instant (``snapshot
    --as-of``), its rows on ``held`` and its change rows (``backfill``): a wrong column in
    any of them is an error under its path."""
    url, _ = glpi_db
    engine = open_engine(url, timedelta(seconds=30))
    join = {**glpi.PAST_GROUPS["queue_join"], **change}
    past = PastState.model_validate({**glpi.PAST_GROUPS, "queue_join": join})
    mapping = SqlMapping.model_validate({"preset": "glpi"}).model_copy(update={"past_state": past})
    try:
        [(path, message)] = check_mapping(engine, mapping, "glpi").problems
    finally:
        engine.dispose()
    assert path == f"{MAPPING} -> past_state -> {part}"
    assert message.startswith(f"preset glpi: past_state.{part.replace(' -> ', '.')}: "), message


def test_check_config_runs_the_past_state(glpi_db: Any) -> None:
    """On GLPI's tables the preset's ``past_state`` passes ``check-config --connect``;
    without ``glpi_logs`` it is a warning (the live poll does not need it; the time to
    first assignment, which reads it too, is absent) and ``snapshot --as-of`` fails on
    it, while a wrong override is an error."""
    url, _ = glpi_db
    engine = open_engine(url, timedelta(seconds=30))
    mapping = SqlMapping.model_validate({"preset": "glpi", "backfill_groups": "held"})
    try:
        checked = check_mapping(engine, mapping, "glpi")
        assert checked.problems == [] and checked.warnings == []
        broken = mapping.model_copy(
            update={"past_state": PastState(status=PAST_STATE_STATUS.replace("items_id", "item"))}
        )
        [(path, message)] = check_mapping(engine, broken, "glpi").problems
        assert path == f"{MAPPING} -> past_state -> status"
        assert message.startswith("preset glpi: past_state.status: ") and "item" in message
        drop_table(url, "glpi_logs")
        checked = check_mapping(engine, mapping, "glpi")
    finally:
        engine.dispose()
    assert checked.problems == []
    missing = "table glpi_logs does not exist"
    assert checked.warnings == [
        (
            f"{MAPPING} -> first_assigned_at",
            f"preset glpi: the time to first assignment will be absent: {missing}",
        ),
        (
            f"{MAPPING} -> past_state -> status",
            "preset glpi: the status as of a past instant (snapshot --as-of) cannot be read:"
            f" {missing}",
        ),
        (
            f"{MAPPING} -> past_state -> queue_join",
            "preset glpi: the queues as of a past instant (snapshot --as-of) cannot be read:"
            f" {missing}",
        ),
        (
            f"{MAPPING} -> past_state -> queue_join -> held",
            f"preset glpi: the queues held at each hour (backfill) cannot be read: {missing}",
        ),
        (
            f"{MAPPING} -> past_state -> queue_join -> changes",
            f"preset glpi: the rows that change the queues (backfill) cannot be read: {missing}",
        ),
    ]
    with pytest.raises(MappingError, match="glpi_logs"):
        measured_at_instants(url, preset="glpi")
