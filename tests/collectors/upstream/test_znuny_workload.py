"""The Znuny preset's workload figures on tables built from Znuny's schema (transcribed).

Expected figures are read with pandas from the rows loaded, as Znuny means them:
``NewTicket``/``StateUpdate`` history rows carry the state a ticket entered.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import story, znuny
from tests.collectors.upstream.test_znuny import Built, build

NOW = story.utc_naive(story.AS_OF)
WINDOW = Window(story.AS_OF - timedelta(days=7), story.AS_OF)


@pytest.fixture(scope="module")
def database() -> Iterator[Built]:
    yield from build("postgresql", znuny.ZONE)


def collect(url: str) -> dict[str, Any]:
    config = SqlSourceConfig.model_validate(
        {
            "kind": "sql",
            "name": "znuny",
            "url": url,
            "mapping": {"preset": "znuny", "timezone": znuny.ZONE},
            "workload": {
                "stale_after": ["3d", "7d"],
                "waiting_statuses": ["pending reminder"],
                "top_categories": 3,
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


def utc(local: pd.Series) -> pd.Series:
    return story.to_utc(local, znuny.ZONE)


@pytest.mark.postgres
class TestZnunyWorkload:
    def test_figures_match_znuny_rows(self, database: Built) -> None:
        """Agents, stale, waiting ages from the history, categories and misroutes equal
        pandas' reading of the rows."""
        url, rows = database
        got = collect(url)
        types = rows["ticket_state_type"].set_index("id")["name"]
        state = rows["ticket_state"].set_index("id")
        kind = rows["ticket"]["ticket_state_id"].map(state["type_id"].map(types))
        t = rows["ticket"][~kind.isin(["merged", "removed"])].copy()
        t["queue"] = t["queue_id"].map(rows["queue"].set_index("id")["name"])
        t["status"] = t["ticket_state_id"].map(state["name"])
        is_open = t["ticket_state_id"].map(state["type_id"].map(types)).isin(znuny.OPEN_TYPES)
        open_ = t[is_open]
        h = rows["ticket_history"]
        entries = h[
            h["history_type_id"].isin([znuny.HISTORY["NewTicket"], znuny.HISTORY["StateUpdate"]])
        ]
        entered = entries.groupby(["ticket_id", "state_id"])["create_time"].max()
        keys = pd.MultiIndex.from_arrays([open_["id"], open_["ticket_state_id"]])
        since = pd.Series(entered.reindex(keys).to_numpy(), index=open_.index)
        since = utc(since.fillna(open_["change_time"]))
        updated = utc(open_["change_time"])
        type_name = rows["ticket_type"].set_index("id")["name"]
        seen = 0
        for queue, mine in open_.groupby("queue"):
            w = got[queue]
            loads = mine[mine["user_id"] != znuny.ROOT].groupby("user_id").size()
            assert sorted(a.open for a in w.agents) == sorted(loads.tolist())
            assert w.stale == {
                k: int((updated[mine.index] < NOW - pd.Timedelta(days=d)).sum())
                for k, d in (("3d", 3), ("7d", 7))
            }
            pending = mine[mine["status"] == "pending reminder"]
            want = (
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
            assert [(x.status, x.count, x.oldest_age_s) for x in w.waiting] == want
            assert all(x.age_from == "status_history" for x in w.waiting)
            assert (
                w.categories_open
                == mine["type_id"].map(type_name).fillna("none").value_counts().to_dict()
            )
            seen += len(pending)
        assert seen > 50
        for w in got.values():
            assert w.routing.misrouted in (None, 0) and w.routing.reassignments is None
        assert any(w.routing.misrouted == 0 and w.routing.resolved > 0 for w in got.values())
