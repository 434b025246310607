"""The GLPI preset's stale figures on tables built from GLPI's schema (transcribed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import glpi, story
from tests.collectors.upstream.test_glpi import databases  # noqa: F401 - the fixture

pytestmark = pytest.mark.mariadb

NOW = story.utc_naive(story.AS_OF)


class TestGlpiWorkload:
    def test_stale_counts_per_assigned_group(self, databases: Any) -> None:  # noqa: F811
        """Open tickets not modified (date_mod) for 3 and 7 days, in every group they are
        assigned to, equal pandas' reading; waiting ages come from the last update."""
        url, rows = databases["plain"]
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "glpi",
                "url": url,
                "session_time_zone": "+00:00",
                "mapping": {"preset": "glpi"},
                "workload": {"stale_after": ["3d", "7d"], "waiting_statuses": ["Pending"]},
            }
        )
        collector = SqlCollector(config)
        try:
            snapshot = collector.collect(Window(story.AS_OF - timedelta(days=1), story.AS_OF))
        finally:
            collector.close()
        got = {q.queue: q.workload for q in snapshot.queues}
        facts = glpi.facts(rows)
        tickets = story.from_wall_clock(rows["glpi_tickets"], glpi.ZONE).set_index("id")
        open_ = facts[facts["is_open"]].assign(
            updated=lambda f: f["ticket"].map(tickets["date_mod"])
        )
        total = 0
        for queue, mine in open_.groupby("queue"):
            w = got[queue]
            assert w.stale == {
                f"{d}d": int((mine["updated"] < NOW - pd.Timedelta(days=d)).sum()) for d in (3, 7)
            }
            pending = mine[mine["status"] == "Pending"]
            want = (
                [
                    (
                        "Pending",
                        len(pending),
                        (NOW - pending["updated"].min()).total_seconds(),
                        "last_update",
                    )
                ]
                if len(pending)
                else []
            )
            assert [(x.status, x.count, x.oldest_age_s, x.age_from) for x in w.waiting] == want
            total += w.stale["3d"]
        assert total > 100
