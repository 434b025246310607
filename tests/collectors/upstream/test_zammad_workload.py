"""The Zammad preset's workload figures on tables built from Zammad's migrations.

Expected figures are read with pandas from the rows loaded (Zammad's own meaning:
``histories`` state rows say which state a ticket entered and when), never with SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import dbs, rails, story, zammad

pytestmark = pytest.mark.postgres

SCHEMA = dbs.HERE / "zammad" / "schema.yaml"
NOW = story.utc_naive(story.AS_OF)
WINDOW = Window(story.AS_OF - timedelta(days=7), story.AS_OF)


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    with dbs.fresh_postgres() as url:
        rows = zammad.tables(rails.seeds(SCHEMA))
        dbs.load(url, rails.create_tables(SCHEMA), rows)
        yield url, rows


def collect(url: str) -> dict[str, Any]:
    config = SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "zammad",
            "url": url,
            "mapping": {"preset": "zammad"},
            "workload": {
                "stale_after": ["3d"],
                "waiting_statuses": ["pending reminder"],
                "agents": {"max_agents": 1000},
            },
        }
    )
    collector = SqlCollector(config)
    try:
        snapshot = collector.collect(WINDOW)
    finally:
        collector.close()
    return {q.queue: q.workload for q in snapshot.queues}


class TestZammadWorkload:
    def test_figures_match_zammad_rows(self, database: Any) -> None:
        """Agents, stale, waiting (from histories), reopens and misroutes equal pandas'."""
        url, rows = database
        got = collect(url)
        types = rows["ticket_state_types"].set_index("id")["name"]
        states = rows["ticket_states"].set_index("id")
        kind = rows["tickets"]["state_id"].map(states["state_type_id"].map(types))
        t = rows["tickets"][~kind.isin(["merged", "removed"])].copy()
        t["queue"] = t["group_id"].map(rows["groups"].set_index("id")["name"])
        t["status"] = t["state_id"].map(states["name"])
        open_ = t[t["state_id"].map(states["state_type_id"].map(types)).isin(zammad.OPEN_TYPES)]
        h = rows["histories"]
        entered = h.groupby(["o_id", "id_to"])["created_at"].max()
        keys = pd.MultiIndex.from_arrays([open_["id"], open_["state_id"]])
        since = pd.Series(entered.reindex(keys).to_numpy(), index=open_.index)
        since = since.fillna(open_["updated_at"])
        assert since.ne(open_["updated_at"]).any()  # the history matters
        waiting_seen = 0
        for queue, mine in open_.groupby("queue"):
            w = got[queue]
            owned = mine[mine["owner_id"] != zammad.SYSTEM_USER]
            loads = owned.groupby("owner_id").size()
            assert w.agents_with_work == len(loads)
            assert sorted(a.open for a in w.agents) == sorted(loads.tolist())
            stale = int((mine["updated_at"] < NOW - pd.Timedelta(days=3)).sum())
            assert w.stale == {"3d": stale}
            pending = mine[mine["status"] == "pending reminder"]
            expected = (
                [
                    (
                        "pending reminder",
                        len(pending),
                        (NOW - since[pending.index].min()).total_seconds(),
                    )
                ]
                if len(pending)
                else []
            )
            got_waiting = [(x.status, x.count, round(x.oldest_age_s, 3)) for x in w.waiting]
            assert got_waiting == [(s, n, round(a, 3)) for s, n, a in expected]
            waiting_seen += len(pending)
        assert waiting_seen > 50
        # routing: nothing in the test bed moves groups or owners; reopens are counted
        resolved = t[
            ~t.index.isin(open_.index)
            & (t["last_close_at"].fillna(t["close_at"]) >= story.utc_naive(WINDOW.start))
            & (t["last_close_at"].fillna(t["close_at"]) < NOW)
        ]
        closed_types = h["id_from"].map(states["state_type_id"].map(types)) == "closed"
        open_types = h["id_to"].map(states["state_type_id"].map(types)).isin(zammad.OPEN_TYPES)
        reopens = h[closed_types & open_types].groupby("o_id").size()
        assert resolved["id"].map(reopens).fillna(0).gt(0).sum() > 0
        for queue, mine in resolved.groupby("queue"):
            r = got[queue].routing
            assert r.resolved == len(mine)
            assert r.reopened == int(mine["id"].map(reopens).fillna(0).gt(0).sum())
            assert r.misrouted == 0 and r.reassignments == 0
