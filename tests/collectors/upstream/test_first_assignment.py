"""The presets' time to first assignment, on each product's tables (transcribed schemas).

Each product's test bed (``znuny.py``, ``zammad.py``) is extended here with the owner
changes of the real incidents (``owners.py``), written the way the product records them:
Znuny an ``OwnerUpdate`` ``ticket_history`` row per change and the creation owner on the
``NewTicket`` row; Zammad an ``owner`` ``histories`` row per change after creation (none
for the owner a ticket is created with). Expected figures come from pandas over the
incidents' updates (:func:`owners.first_assigned`) and each product's own reading of its
rows (resolved tickets, queues), never from SQL: the routing figures of a poll over the
last week, and the report's median and p90 per queue and overall.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import TOTAL_QUEUE, Window
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlqueries import PollQueries
from collectors.sqlreport import ReportQueries
from tests.collectors.upstream import dbs, ddl, otrsxml, owners, rails, rt, story, zammad, znuny
from tests.collectors.upstream.expect import HANG_GUARD
from tests.collectors.upstream.test_znuny import ENGINES
from tests.collectors.upstream.test_znuny import SCHEMA as ZNUNY_SCHEMA

WINDOW = Window(story.AS_OF - timedelta(days=7), story.AS_OF)
ZAMMAD_SCHEMA = dbs.HERE / "zammad" / "schema.yaml"
OWNER_UPDATE = 23
"""Znuny's ``OwnerUpdate`` history type id in a fresh install (the preset looks types up
by name; the id only numbers the rows written here)."""

Built = tuple[str, dict[str, pd.DataFrame]]


def znuny_rows() -> dict[str, pd.DataFrame]:
    """Znuny's test bed with the owners: the creation owner on ``NewTicket`` rows and an
    ``OwnerUpdate`` row per change (owner 1 is nobody)."""
    seeds = ddl.load(ZNUNY_SCHEMA)["seeds"]
    seeds = {**seeds, "ticket_history_type": [*seeds["ticket_history_type"]]}
    seeds["ticket_history_type"].append({"id": OWNER_UPDATE, "name": "OwnerUpdate"})
    rows = znuny.tables(seeds, znuny.ZONE)
    final = story.tickets()
    known = {n: i for i, n in enumerate(sorted(final["assignee"].dropna().unique()), start=2)}
    agent = owners.agent_ids(known, start=10_000)
    tid = pd.Series(rows["ticket"]["id"].to_numpy(), index=rows["ticket"]["tn"])
    h = rows["ticket_history"].copy()
    created = h["history_type_id"] == znuny.HISTORY["NewTicket"]
    number = pd.Series(tid.index, index=tid.to_numpy())
    at_creation = h.loc[created, "ticket_id"].map(number).map(owners.creation_owner())
    h.loc[created, "owner_id"] = at_creation.map(agent).fillna(znuny.ROOT).astype(int)
    moves = owners.changes()
    moves = moves[moves["number"].isin(tid.index)]
    ticket = moves["number"].map(tid)
    current = rows["ticket"].set_index("id")
    local = story.to_local(moves["at"], znuny.ZONE)
    update = pd.DataFrame(
        {
            "id": range(int(h["id"].max()) + 1, int(h["id"].max()) + 1 + len(moves)),
            "name": "%%OwnerUpdate",
            "history_type_id": OWNER_UPDATE,
            "ticket_id": ticket.to_numpy(),
            "article_id": pd.NA,
            "type_id": 1,
            "queue_id": ticket.map(current["queue_id"]).to_numpy(),
            "owner_id": moves["after"].map(agent).fillna(znuny.ROOT).astype(int).to_numpy(),
            "priority_id": ticket.map(current["ticket_priority_id"]).to_numpy(),
            "state_id": ticket.map(current["ticket_state_id"]).to_numpy(),
            "create_time": local.to_numpy(),
            "create_by": znuny.ROOT,
            "change_time": local.to_numpy(),
            "change_by": znuny.ROOT,
        }
    )
    return {**rows, "ticket_history": pd.concat([h, update], ignore_index=True)}


def zammad_rows() -> dict[str, pd.DataFrame]:
    """Zammad's test bed with an ``owner`` ``histories`` row per change after creation
    (user 1 is nobody) and the ``owner`` attribute in the lookup."""
    rows = zammad.tables(rails.seeds(ZAMMAD_SCHEMA))
    attributes = rows["history_attributes"]
    owner_attribute = int(attributes["id"].max()) + 1
    added = attributes.iloc[:1].assign(id=owner_attribute, name="owner")
    final = story.tickets()
    known = {n: i for i, n in enumerate(sorted(final["assignee"].dropna().unique()), start=100)}
    agent = owners.agent_ids(known, start=10_000)
    tid = pd.Series(rows["tickets"]["id"].to_numpy(), index=rows["tickets"]["number"])
    moves = owners.changes().sort_values(["number", "at"], kind="stable")
    moves = moves[moves["number"].isin(tid.index)]
    nobody = zammad.SYSTEM_USER
    changes = pd.DataFrame(
        {
            "history_type_id": 1,
            "history_object_id": 1,
            "history_attribute_id": owner_attribute,
            "o_id": moves["number"].map(tid).to_numpy(),
            "id_from": moves["before"].map(agent).fillna(nobody).astype(int).to_numpy(),
            "id_to": moves["after"].map(agent).fillna(nobody).astype(int).to_numpy(),
            "created_by_id": 1,
            "created_at": moves["at"].to_numpy(),
            "updated_at": moves["at"].to_numpy(),
        }
    )
    return {
        **rows,
        "history_attributes": pd.concat([attributes, added], ignore_index=True),
        "histories": pd.concat([rows["histories"], changes], ignore_index=True),
    }


def rt_rows() -> dict[str, pd.DataFrame]:
    """RT's test bed with a ``Set`` ``Owner`` transaction per change after creation
    (values are user ids as text; Nobody is nobody)."""
    rows = rt.tables()
    final = story.tickets()
    known = {n: i for i, n in enumerate(sorted(final["assignee"].dropna().unique()), start=100)}
    agent = owners.agent_ids(known, start=10_000)
    tickets = rows["tickets"][rows["tickets"]["type"] == "ticket"]
    tid = pd.Series(tickets["id"].to_numpy(), index=final["number"].to_numpy())
    moves = owners.changes().sort_values(["number", "at"], kind="stable")
    moves = moves[moves["number"].isin(tid.index)]
    value = lambda who: who.map(agent).fillna(rt.NOBODY).astype(int).astype(str)  # noqa: E731
    first_id = int(rows["transactions"]["id"].max()) + 1
    changes = pd.DataFrame(
        {
            "objectid": moves["number"].map(tid).to_numpy(),
            "type": "Set",
            "creator": rt.SYSTEM,
            "created": moves["at"].to_numpy(),
            "field": "Owner",
            "oldvalue": value(moves["before"]).to_numpy(),
            "newvalue": value(moves["after"]).to_numpy(),
            "id": range(first_id, first_id + len(moves)),
            "objecttype": "RT::Ticket",
        }
    )
    return {**rows, "transactions": pd.concat([rows["transactions"], changes], ignore_index=True)}


@pytest.fixture(scope="module", params=[pytest.param(e, marks=m) for e, (_, m) in ENGINES.items()])
def znuny_db(request: pytest.FixtureRequest) -> Iterator[Built]:
    rows = znuny_rows()
    with ENGINES[request.param][0]() as url:
        dbs.load(url, otrsxml.statements(ddl.load(ZNUNY_SCHEMA), request.param), rows)
        yield url, rows


@pytest.fixture(scope="module")
def zammad_db() -> Iterator[Built]:
    rows = zammad_rows()
    with dbs.fresh_postgres() as url:
        dbs.load(url, rails.create_tables(ZAMMAD_SCHEMA), rows)
        yield url, rows


@pytest.fixture(scope="module")
def rt_db() -> Iterator[Built]:
    rows = rt_rows()
    with dbs.fresh_postgres() as url:
        dbs.load(url, ddl.statements(dbs.HERE / "rt" / "schema.yaml", "postgresql"), rows)
        yield url, rows


def poll(url: str, preset: str, **mapping: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The routing figures of a poll over :data:`WINDOW` and the report's quantiles."""
    config = SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": preset,
            "url": url,
            "timeout": HANG_GUARD,
            "mapping": {"preset": preset, **mapping},
            "workload": {},
        }
    )
    collector = SqlCollector(config)
    try:
        snapshot = collector.collect(WINDOW)
        figures = collector.report(WINDOW, aged_limit=25)
        report = figures.first_assignment
        # the aged list (looked up per (queue, status) group on MariaDB, through the
        # preset's joins) is the one ordered statement's
        plain = ReportQueries(PollQueries(config.mapping, collector._bind)).aged(25)
        with collector._connect().connect() as conn:
            ordered = [(str(r.ticket), str(r.queue)) for r in conn.execute(plain)]
        assert [(t.id, t.queue) for t in figures.aged] == ordered and ordered
    finally:
        collector.close()
    assert report is not None and config.records_first_assignment()
    return {q.queue: q.workload.routing for q in snapshot.queues if q.workload}, report


def nearest_rank(values: pd.Series, p: int) -> float:
    ordered = values.sort_values().to_numpy()
    return float(ordered[math.ceil(len(ordered) * p / 100) - 1])


def verify(facts: pd.DataFrame, number: pd.Series, got: dict[str, Any], report: Any) -> None:
    """``facts``: the product's reading (ticket, queue, is_open, created, resolved, naive
    UTC); ``number``: ticket id -> incident number."""
    t0, t1 = story.utc_naive(WINDOW.start), story.utc_naive(WINDOW.end)
    done = facts[~facts["is_open"] & (facts["resolved"] >= t0) & (facts["resolved"] < t1)]
    first = done["ticket"].map(number).map(owners.first_assigned())
    done = done.assign(wait=(first - done["created"]).dt.total_seconds())
    waits = done["wait"].dropna()
    # every resolved incident had an owner at some point: some from creation (no wait)
    assert len(waits) > 100 and (waits > 0).any() and (waits == 0).any()
    for queue, rows in done.groupby("queue"):
        mine = rows["wait"].dropna()
        routing = got[str(queue)]
        assert routing.resolved == len(rows), queue
        assert routing.assigned == len(mine), queue
        assert routing.first_assignment_s == pytest.approx(float(mine.sum()), abs=1e-3)
        if len(mine):
            want = (len(mine), nearest_rank(mine, 50), nearest_rank(mine, 90))
            assert report[str(queue)] == pytest.approx(want, abs=1e-3), queue
    want = (len(waits), nearest_rank(waits, 50), nearest_rank(waits, 90))
    assert report[TOTAL_QUEUE] == pytest.approx(want, abs=1e-3)


class TestFirstAssignmentPresets:
    def test_znuny(self, znuny_db: Built) -> None:
        """Znuny: the first NewTicket/OwnerUpdate row with a real owner."""
        url, rows = znuny_db
        got, report = poll(url, "znuny", timezone=znuny.ZONE)
        number = rows["ticket"].set_index("id")["tn"]
        verify(znuny.facts(rows), number, got, report)

    @pytest.mark.postgres
    def test_zammad(self, zammad_db: Built) -> None:
        """Zammad: the creation for tickets created owned, else the first owner change
        to a real owner."""
        url, rows = zammad_db
        got, report = poll(url, "zammad")
        number = rows["tickets"].set_index("id")["number"]
        verify(zammad.facts(rows), number, got, report)

    @pytest.mark.postgres
    def test_rt(self, rt_db: Built) -> None:
        """RT: the creation for tickets created owned, else the first Owner transaction
        to someone other than Nobody."""
        url, rows = rt_db
        got, report = poll(url, "rt")
        tickets = rows["tickets"][rows["tickets"]["type"] == "ticket"]
        number = pd.Series(story.tickets()["number"].to_numpy(), index=tickets["id"].to_numpy())
        verify(rt.facts(rows), number, got, report)
