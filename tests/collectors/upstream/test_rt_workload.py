"""The RT preset's workload figures on tables built from RT's schema (transcribed).

Expected figures are read with pandas from the rows loaded, as RT means them: a
``Status`` transaction's ``NewValue`` is the status a ticket entered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import rt, story
from tests.collectors.upstream.test_rt import database  # noqa: F401 - the fixture

pytestmark = pytest.mark.postgres

NOW = story.utc_naive(story.AS_OF)
WINDOW = Window(story.AS_OF - timedelta(days=7), story.AS_OF)


class TestRtWorkload:
    def test_figures_match_rt_rows(self, database: Any) -> None:  # noqa: F811
        """Agents, stale, waiting (stalled, from Status transactions), reopens and
        misroutes (none in the bed, recorded as 0) equal pandas' reading."""
        url, rows = database
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "rt",
                "url": url,
                "mapping": {"preset": "rt"},
                "workload": {
                    "stale_after": ["3d"],
                    "waiting_statuses": ["stalled"],
                    "agents": {"max_agents": 1000},
                },
            }
        )
        collector = SqlCollector(config)
        try:
            got = {q.queue: q.workload for q in collector.collect(WINDOW).queues}
        finally:
            collector.close()
        facts = rt.facts(rows)
        tickets = rows["tickets"].set_index("id")
        open_ = facts[facts["is_open"]].assign(
            updated=lambda f: f["ticket"].map(tickets["lastupdated"]),
            owner=lambda f: f["ticket"].map(tickets["owner"]),
        )
        tr = rows["transactions"]
        status_rows = tr[(tr["field"] == "Status") & tr["type"].isin(["Status", "Set"])]
        entered = status_rows.groupby(["objectid", "newvalue"])["created"].max()
        keys = pd.MultiIndex.from_arrays([open_["ticket"], open_["status"]])
        since = pd.Series(entered.reindex(keys).to_numpy(), index=open_.index)
        since = since.fillna(open_["updated"])
        assert since.ne(open_["updated"]).any()  # the history matters here
        seen = 0
        for queue, mine in open_.groupby("queue"):
            w = got[queue]
            owned = mine[~mine["owner"].isin([rt.NOBODY, 0])]
            assert sorted(a.open for a in w.agents) == sorted(owned["owner"].value_counts())
            assert w.stale == {"3d": int((mine["updated"] < NOW - pd.Timedelta(days=3)).sum())}
            stalled = mine[mine["status"] == "stalled"]
            want = (
                [("stalled", len(stalled), (NOW - since[stalled.index].min()).total_seconds())]
                if len(stalled)
                else []
            )
            assert [(x.status, x.count, x.oldest_age_s) for x in w.waiting] == want
            seen += len(stalled)
        assert seen > 50
        back = (
            tr[
                (tr["field"] == "Status")
                & tr["oldvalue"].isin(["resolved", "rejected"])
                & tr["newvalue"].isin(rt.OPEN)
            ]
            .groupby("objectid")
            .size()
        )
        done = facts[
            ~facts["is_open"]
            & (facts["resolved"] >= story.utc_naive(WINDOW.start))
            & (facts["resolved"] < NOW)
        ]
        assert done["ticket"].map(back).fillna(0).gt(0).any()
        for queue, mine in done.groupby("queue"):
            r = got[queue].routing
            assert r.resolved == len(mine)
            assert r.reopened == int(mine["ticket"].map(back).fillna(0).gt(0).sum())
            assert r.misrouted == 0 and r.reassignments is None
