"""Status as of a past instant from GLPI's ``glpi_logs``, against pandas, on PostgreSQL and
MariaDB.

The same real updates as :mod:`tests.collectors.presets.test_past_state` (the ServiceNow
incidents of :mod:`tests.collectors.upstream.story`), written the way GLPI logs a status
change (``Log::constructHistory``): a ``glpi_logs`` row of ``itemtype`` ``'Ticket'``,
``linked_action`` 0 and ``id_search_option`` 12 holding the old and new status integers
as text, ids in time order, beside rows the reading must skip (the creation row,
``linked_action`` 20, and a group-assignment row, ``linked_action`` 15 with
``id_search_option`` 8, for each queue change). The ticket row holds the last status,
one assigned group (today's queue), ``solvedate``/``closedate`` of its last close when it
is closed now (GLPI clears both on reopen).

pandas reads the log rows (never the SQL) with RT's and Zammad's rule: the status entered
by the ticket's last change before ``T``, else the one left by its first change at or
after ``T``, else today's. The queue is today's: the preset does not read the groups'
history (a ticket may have several groups at once).

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
UPDATE, ADD_RELATION, CREATE_ITEM = 0, 15, 20
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
    change (integers as text) and each group assignment (``name (id)``, as GLPI logs a
    relation)."""
    is_status = tx["field"] == "Status"
    is_queue = tx["field"] == "Queue"

    def as_status(values: pd.Series) -> pd.Series:
        return values.where(is_status).map(lambda v: "" if pd.isna(v) else str(STATUS[v]))

    def as_group(values: pd.Series) -> pd.Series:
        return values.where(is_queue).map(
            lambda v: "" if pd.isna(v) else f"{groups[int(v)]} ({int(v)})"
        )

    option = pd.Series(0, index=tx.index).where(~is_status, STATUS_OPTION)
    action = pd.Series(UPDATE, index=tx.index).where(~is_queue, ADD_RELATION)
    action = action.where(tx["type"] != "Create", CREATE_ITEM)
    return pd.DataFrame(
        {
            "id": range(1, len(tx) + 1),
            "itemtype": "Ticket",
            "items_id": tx["objectid"].to_numpy(),
            "itemtype_link": is_queue.map({True: "Group", False: ""}).to_numpy(),
            "linked_action": action.to_numpy(),
            "user_name": "glpi (2)",
            "date_mod": tx["created"].to_numpy(),
            "id_search_option": option.where(~is_queue, GROUP_OPTION).to_numpy(),
            "old_value": as_status(tx["oldvalue"]).to_numpy(),
            "new_value": as_status(tx["newvalue"])
            .where(is_status, as_group(tx["newvalue"]))
            .to_numpy(),
        }
    )


@functools.cache
def rows_of_glpi() -> dict[str, pd.DataFrame]:
    """GLPI's rows built from :func:`rt.rows_of_rt` (the same changes)."""
    r = rt.rows_of_rt()
    t = r["tickets"]
    groups = r["queues"].set_index("id")["name"]
    closed_now = t["status"] == "resolved"
    resolved = t["resolved"].where(closed_now & (t["resolved"] != rt.UNSET))
    return {
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
        "glpi_groups_tickets": pd.DataFrame(
            {
                "id": range(1, len(t) + 1),
                "tickets_id": t["id"],
                "groups_id": t["queue"],
                "type": 2,
            }
        ),
        "glpi_logs": logs(r["transactions"], groups),
    }


def expected(rows: dict[str, pd.DataFrame], instant: datetime) -> dict:
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
    groups = rows["glpi_groups"].set_index("id")["completename"]
    links = rows["glpi_groups_tickets"].set_index("tickets_id")["groups_id"]
    cut = pd.Timestamp(instant).tz_localize(None)
    frame = pd.DataFrame(
        {
            "queue": links.reindex(t.index).map(groups),
            "status": as_of(changes, t["status"].map(LABELS), cut),
            "priority": "Medium",
            "open_now": t["status"].isin([1, 2, 3, 4]),
            "created": t["date"].dt.tz_localize("UTC"),
            "resolved": pd.to_datetime(t["solvedate"]).dt.tz_localize("UTC"),
        }
    )
    return asof.snapshot(frame, instant, WINDOW)


@pytest.fixture(params=SERVERS)
def glpi_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    rows = rows_of_glpi()
    yield loaded_on_server(request, metadata, rows), rows


def test_status_as_of_from_glpi_logs(glpi_db: Any) -> None:
    url, rows = glpi_db
    log = rows["glpi_logs"]
    assert (log["id_search_option"] == STATUS_OPTION).sum() > 5000
    assert (log["linked_action"] == ADD_RELATION).sum() > 500  # rows the reading skips
    for instant, got in measured_at_instants(url, preset="glpi").items():
        assert got == expected(rows, instant), instant


def test_history_changes_the_answer(glpi_db: Any) -> None:
    """Without ``past_state``, today's status: a different answer, same totals."""
    url, rows = glpi_db
    for instant, got in measured_at_instants(url, preset="glpi", past_state=None).items():
        want = expected(rows, instant)
        assert got["__total__"]["open"] == want["__total__"]["open"]
        assert got != want, instant


def test_check_config_runs_the_past_state(glpi_db: Any) -> None:
    """On GLPI's tables the preset's ``past_state`` passes ``check-config --connect``;
    without ``glpi_logs`` it is a warning (the live poll does not need it) and
    ``snapshot --as-of`` fails on it, while a wrong override is an error."""
    url, _ = glpi_db
    engine = open_engine(url, timedelta(seconds=30))
    mapping = SqlMapping.model_validate({"preset": "glpi"})
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
    assert checked.warnings == [
        (
            f"{MAPPING} -> past_state -> status",
            "preset glpi: the status as of a past instant (snapshot --as-of) cannot be read:"
            " table glpi_logs does not exist",
        )
    ]
    with pytest.raises(MappingError, match="glpi_logs"):
        measured_at_instants(url, preset="glpi")
