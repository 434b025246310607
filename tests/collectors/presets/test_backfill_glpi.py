"""GLPI's backfill per assigned group from ``glpi_logs`` (``backfill_groups: held``:
``past_state.queue_join`` with ``rows``, ``held`` and ``changes``), against pandas, on
PostgreSQL and MariaDB; by default (``backfill_groups: today``) it reads today's groups
and never ``glpi_logs``.

The tables are those of :mod:`tests.collectors.presets.test_past_state_glpi`: the real
ServiceNow incidents' updates written as GLPI logs them (a move from group A to group B:
B added at the update, A removed at the ticket's next update, so hundreds of tickets hold
two groups at once), plus tickets put in the trash bin (``is_deleted = 1``, some of them
moved between groups). pandas never reads SQL: for each hour's end it takes every group
each ticket held then from the relation rows (the past-state test's ``frame``, GLPI's
rule of ``docs/presets/glpi.md``), drops the deleted tickets, and counts open, created
and resolved per group, each ticket in every group it held at the hour's end
(:func:`tests.collectors.asof.hourly_moving`), and the total with each ticket once. The
hours are read in two spans, the second carried from the first, as ``backfill``'s chunks
are, and the second span again by a new reader (a backfill resumed after an interruption
reads the groups held at its start itself). The same rows written in Paris wall-clock
time (the hours cross the change to summer time of 27 March 2016) give the same figures
with ``timezone: Europe/Paris``.

Not on SQLite: the preset reads the group id out of the relation row's text with
``REVERSE`` and ``POSITION``, which SQLite does not have.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest

from collectors.presets import glpi
from collectors.sqlmap import SqlMapping
from tests.collectors import asof
from tests.collectors.presets import test_past_state_glpi as past
from tests.collectors.presets.pastcase import SERVERS, collector, drop_table, loaded_on_server
from tests.collectors.presets.test_backfill_history import (
    END,
    HOURS,
    MIDDLE,
    START,
    Figures,
    backfilled,
)

DELETED_EVERY = 41
"""Every 41st ticket is in the trash bin (``is_deleted = 1``)."""
UNASSIGNED_EVERY, LATE_EVERY = 17, 13
LATE = pd.Timedelta(minutes=150)
ZONE = "Europe/Paris"
HELD = {"backfill_groups": "held"}
"""The opt-in per-group history of the preset."""
TIMES = {"glpi_tickets": ("date", "solvedate", "closedate", "date_mod"), "glpi_logs": ("date_mod",)}


@functools.cache
def rows_of_glpi() -> dict[str, pd.DataFrame]:
    """The past-state test's GLPI rows with every :data:`DELETED_EVERY`-th ticket deleted,
    and, of the tickets never moved, every :data:`UNASSIGNED_EVERY`-th without a group
    (no link, no row) and every :data:`LATE_EVERY`-th assigned its group
    :data:`LATE` after its creation (a relation row adding today's link: unassigned
    before, as GLPI's new tickets usually are)."""
    rows = dict(past.rows_of_glpi())
    t = rows["glpi_tickets"]
    rows["glpi_tickets"] = t.assign(is_deleted=(t["id"] % DELETED_EVERY == 0).astype(int))
    log, links = rows["glpi_logs"], rows["glpi_groups_tickets"]
    moved = set(log.loc[log["itemtype_link"] == "Group", "items_id"])
    still = t[~t["id"].isin(moved)]
    alone = still.loc[still["id"] % UNASSIGNED_EVERY == 0, "id"]
    links = links[~links["tickets_id"].isin(alone)]
    late = links[links["tickets_id"].isin(still.loc[still["id"] % LATE_EVERY == 0, "id"])]
    names = rows["glpi_groups"].set_index("id")["completename"]
    created = t.set_index("id")["date"]
    added = pd.DataFrame(
        {
            "items_id": late["tickets_id"].to_numpy(),
            "itemtype_link": "Group",
            "linked_action": past.ADD_RELATION,
            "date_mod": (created.loc[late["tickets_id"]] + LATE).to_numpy(),
            "id_search_option": past.GROUP_OPTION,
            "old_value": "",
            "new_value": [f"{names[g]} ({g})" for g in late["groups_id"]],
            "itemtype": "Ticket",
            "user_name": "glpi (2)",
        }
    )
    added["id"] = range(len(log) + 1, len(log) + len(added) + 1)
    rows["glpi_logs"] = pd.concat([log, added[log.columns]], ignore_index=True)
    rows["glpi_groups_tickets"] = links
    return rows


def in_zone(rows: dict[str, pd.DataFrame], zone: str) -> dict[str, pd.DataFrame]:
    """The rows with their naive UTC times written as naive wall-clock times of ``zone``."""
    out = dict(rows)
    for table, columns in TIMES.items():
        frame = out[table].copy()
        for c in columns:
            local = pd.to_datetime(frame[c]).dt.tz_localize("UTC").dt.tz_convert(zone)
            frame[c] = local.dt.tz_localize(None)
        out[table] = frame
    return out


def kept(rows: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The rows pandas counts: deleted tickets count nowhere (GLPI's trash bin)."""
    t = rows["glpi_tickets"]
    alive = t.loc[t["is_deleted"] == 0, "id"]
    links, log = rows["glpi_groups_tickets"], rows["glpi_logs"]
    return {
        **rows,
        "glpi_tickets": t[t["id"].isin(alive)],
        "glpi_groups_tickets": links[links["tickets_id"].isin(alive)],
        "glpi_logs": log[log["items_id"].isin(alive)],
    }


def expected(rows: dict[str, pd.DataFrame]) -> Figures:
    """Per group: each ticket in every group it held at each hour's end; the total: each
    ticket once."""
    counted = kept(rows)
    groups = asof.hourly_moving(lambda t: past.frame(counted, t.to_pydatetime())[1], HOURS)
    total = asof.hourly_moving(lambda t: past.frame(counted, t.to_pydatetime())[0], HOURS)
    out = {k: v for k, v in groups.items() if k[0] != "__total__"}
    out.update({k: v for k, v in total.items() if k[0] == "__total__"})
    return out


def cases(rows: dict[str, pd.DataFrame]) -> dict[str, int]:
    """How many tickets or rows show each case the backfill must get right."""
    counted = kept(rows)
    log = rows["glpi_logs"]
    relation = log[log["itemtype_link"] == "Group"]
    start, end = (pd.Timestamp(t).tz_localize(None) for t in (START, END))
    inside = relation[(relation["date_mod"] >= start) & (relation["date_mod"] < end)]
    deleted = rows["glpi_tickets"].loc[rows["glpi_tickets"]["is_deleted"] == 1, "id"]
    held = [past.frame(counted, h.to_pydatetime())[1] for h in HOURS[::12]]
    return {
        "relation rows before the start": int((relation["date_mod"] < start).sum()),
        "additions inside": int((inside["linked_action"] == past.ADD_RELATION).sum()),
        "removals inside": int((inside["linked_action"] == past.DEL_RELATION).sum()),
        "deleted tickets moved between groups": int(relation["items_id"].isin(deleted).sum()),
        "tickets in two groups at once (fewest at every 12th hour end)": min(
            int(f.index.duplicated().sum()) for f in held
        ),
        "tickets without a group at the start": int((held[0]["queue"] == "(unassigned)").sum()),
        "first groups added after the creation, inside": int(
            inside["items_id"].isin(late_added(rows)).sum()
        ),
    }


def late_added(rows: dict[str, pd.DataFrame]) -> pd.Series:
    """The tickets whose first group was added after their creation (:data:`LATE`)."""
    log, t = rows["glpi_logs"], rows["glpi_tickets"].set_index("id")["date"]
    adds = log[(log["itemtype_link"] == "Group") & (log["linked_action"] == past.ADD_RELATION)]
    first = adds.groupby("items_id")["date_mod"].min()
    return pd.Series(first.index[(first - t.reindex(first.index)) == LATE])


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[pytest.FixtureRequest]:
    yield request


def test_the_glpi_history_has_every_case() -> None:
    found = cases(rows_of_glpi())
    assert all(n > 0 for n in found.values()), found
    assert found["tickets in two groups at once (fewest at every 12th hour end)"] > 100, found


def test_the_preset_backfills_from_the_relation_rows_when_asked() -> None:
    mapping = SqlMapping.model_validate({"preset": "glpi", **HELD})
    assert mapping.past_state is not None and mapping.past_state.queue_join is not None
    assert mapping.past_state.queue_join.backfills()
    default = SqlMapping.model_validate({"preset": "glpi"})
    assert default.backfill_groups == "today"
    # snapshot --as-of still reads the groups from the history; backfill does not
    assert default.past_state is not None and default.past_state.queue_join is not None
    assert default.past_state.queue_join.table == glpi.GROUPS_AS_OF
    assert not default.past_state.queue_join.backfills()
    first = SqlMapping.model_validate(
        {"preset": "glpi", "group_assignment": "first_assigned_group"}
    )
    assert first.past_state is not None and first.past_state.queue_join is None
    assert glpi.GROUPS_AS_OF.startswith("(SELECT gt.tickets_id")


def test_glpi_backfill_counts_each_ticket_in_every_group_it_held(
    server: pytest.FixtureRequest,
) -> None:
    rows = rows_of_glpi()
    url = loaded_on_server(server, past.metadata, rows)
    got = backfilled(url, "glpi", **HELD)
    want = expected(rows)
    assert got == want
    # resumed after an interruption: a new reader starts at MIDDLE without a carry and
    # reads the groups held then (the backlog at its start) itself
    reader = collector(url, preset="glpi", **HELD)
    try:
        resumed = {
            (r.queue, r.hour): (r.open_end, r.created, r.resolved)
            for r in reader.hourly(MIDDLE, END)
        }
    finally:
        reader.close()
    later = {k: v for k, v in want.items() if k[1] >= MIDDLE}
    assert resumed == {k: v for k, v in later.items() if k in resumed}
    # only the zero rows of a group no ticket held at MIDDLE (emptied before it) are not
    # written again until a ticket enters it: the new reader cannot know it had tickets
    left_out = {k: v for k, v in later.items() if k not in resumed}
    assert left_out and set(left_out.values()) == {(0, 0, 0)}, left_out
    first: dict[str, datetime] = {}
    for q, hour in sorted(resumed, key=lambda k: k[1]):
        first.setdefault(q, hour)
    assert all(hour < first.get(q, END) for q, hour in left_out), left_out
    # without the history: today's groups, the same totals, other per-group figures
    today = backfilled(url, "glpi", past_state=None)
    totals = {k: v for k, v in want.items() if k[0] == "__total__"}
    assert {k: v for k, v in today.items() if k[0] == "__total__"} == totals
    assert today != want


def test_glpi_backfill_in_a_zone_with_summer_time(server: pytest.FixtureRequest) -> None:
    """The same rows as Paris wall-clock times, read with ``timezone: Europe/Paris``: the
    same figures per UTC hour (the first span is cut at the change to summer time)."""
    rows = rows_of_glpi()
    url = loaded_on_server(server, past.metadata, in_zone(rows, ZONE))
    assert backfilled(url, "glpi", timezone=ZONE, **HELD) == expected(rows)


def test_by_default_backfill_counts_todays_groups_without_glpi_logs(
    server: pytest.FixtureRequest,
) -> None:
    """``backfill_groups`` unset: each ticket in today's groups, as without ``past_state``,
    and ``glpi_logs`` is not read (dropped, the default still runs; ``held`` fails)."""
    rows = rows_of_glpi()
    url = loaded_on_server(server, past.metadata, rows)
    today = backfilled(url, "glpi", past_state=None)
    drop_table(url, "glpi_logs")
    assert backfilled(url, "glpi") == today
    assert backfilled(url, "glpi", backfill_groups="today") == today
    with pytest.raises(Exception, match="glpi_logs"):
        backfilled(url, "glpi", **HELD)
