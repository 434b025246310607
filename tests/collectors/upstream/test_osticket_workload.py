"""The osTicket preset's stale figures on tables built from osTicket's schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream import osticket, story
from tests.collectors.upstream.test_osticket import database  # noqa: F401 - the fixture

pytestmark = pytest.mark.mariadb

NOW = story.utc_naive(story.AS_OF)


class TestOsticketWorkload:
    def test_stale_counts_and_agents_match_osticket_rows(self, database: Any) -> None:  # noqa: F811
        """Stale counts by ``updated`` and per-agent loads equal pandas' reading."""
        url, rows = database
        config = SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "osticket",
                "url": url,
                "mapping": {
                    "preset": "osticket",
                    "table_prefix": osticket.PREFIX,
                    "timezone": osticket.ZONE,
                },
                "workload": {"stale_after": ["1d", "7d"], "agents": {"max_agents": 1000}},
            }
        )
        collector = SqlCollector(config)
        try:
            snapshot = collector.collect(Window(story.AS_OF - timedelta(days=1), story.AS_OF))
        finally:
            collector.close()
        got = {q.queue: q.workload for q in snapshot.queues}
        facts = osticket.facts(rows)
        open_ = facts[facts["is_open"]]
        tickets = rows["ticket"].set_index("ticket_id")
        updated = story.to_utc(pd.to_datetime(tickets["updated"]), osticket.ZONE)
        staff = tickets["staff_id"]
        checked = 0
        for queue, mine in open_.groupby("queue"):
            w = got[queue]
            ages = NOW - updated[mine["ticket"]]
            assert w.stale == {
                "1d": int((ages > pd.Timedelta(days=1)).sum()),
                "7d": int((ages > pd.Timedelta(days=7)).sum()),
            }
            owners = staff[mine["ticket"]]
            agents = owners[owners != 0].value_counts()
            assert {a.agent: a.open for a in w.agents if not a.agent.startswith("team:")} == {
                str(a): int(n) for a, n in agents.items()
            }
            checked += w.stale["1d"]
        assert checked > 100
