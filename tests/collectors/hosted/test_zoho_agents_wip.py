"""Zoho Desk's per-agent counts, stored and read by a WIP-limit rule.

One poll of ten departments of the Volvo log at the height of its burst (the fake's
roster and ``agentsTicketsCount``), stored in a history store as the daemon stores it;
a ``wip_limit`` rule one below the busiest agent's load fires on that agent's
department and names the agent (by Zoho id) and its open tickets, as pandas counts
them from the log. Zoho gives no oldest ticket per agent: it stays absent through the
store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import TypeAdapter

from alerting.rules import Rule
from alerting.state import NoData
from collectors.base import Window
from collectors.zohodesk import ZohoDeskCollector, ZohoDeskConfig
from monitor.clock import FakeClock
from monitor.store import history
from monitor.store.engine import migrate, open_store
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores import zohodesk

AT = datetime(2012, 5, 2, 10, tzinfo=UTC)
RULE: TypeAdapter[Any] = TypeAdapter(Rule)


def test_busiest_agent_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kit = zohodesk.Kit()
    for name, value in kit.environment.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock(AT)
    with FakeServer(kit.app(clock, {})) as server:
        case = {
            "departments": 10,
            "config": {
                "department_agents": 400,
                "aging": False,
                "workload": {"assignees": True, "agents": {"max_agents": 1000}},
            },
        }
        config = ZohoDeskConfig.model_validate(kit.config(server.url, case))
        collector = ZohoDeskCollector(config, clock=lambda: clock().timestamp())
        try:
            snapshot = collector.collect(Window(AT - timedelta(minutes=15), AT))
        finally:
            collector.close()
    store = open_store(f"sqlite:///{tmp_path}/history.db")
    migrate(store)
    with store.begin() as conn:
        history.record_snapshot(conn, snapshot)
    with store.connect() as conn:
        series = history.series(conn, AT - timedelta(hours=1), AT)
    store.dispose()

    # pandas: open tickets per (team, resource) at the instant, rosters of at most 400
    log = zohodesk.volvo_log()
    state = log.state_at(AT)
    teams = [d.name for d in config.departments]
    seen = log.events[log.events["at"] < pd.Timestamp(AT)]
    rosters = seen[seen["queue"].isin(teams)].groupby("queue")["assignee"].nunique()
    read = [t for t in teams if rosters[t] <= 400]
    assert len(read) == 9  # G97's roster (536) is over: no agent figure there
    open_ = state[state["queue"].isin(read) & ~state["done"]]
    loads = open_.groupby(["queue", "assignee"]).size().rename("n").reset_index()
    busiest = loads.sort_values(["n", "queue"], ascending=[False, True]).iloc[0]
    agent = zohodesk.agent_ids(log)[str(busiest.assignee)]

    rule = RULE.validate_python(
        {"name": "Wip", "kind": "wip_limit", "wip_limit": int(busiest.n) - 1}
    )
    key = ("zoho", str(busiest.queue))
    measured = rule.compute(series[key], AT, None, key)
    assert not isinstance(measured, NoData)
    assert measured.value == busiest.n
    assert f"{agent} ({busiest.n} open)" in measured.text, measured.text
    stored = series[key][-1]["workload"]["agents"]
    assert all(a["oldest_age_s"] is None for a in stored)
    assert {a["agent"]: a["open"] for a in stored}[agent] == busiest.n
    absent = series[("zoho", "G97")][-1]["workload"]
    assert absent["agents"] is None and absent["agents_with_work"] is None
