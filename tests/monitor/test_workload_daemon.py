"""The daemon with a real SQL source and a workload section: poll, store, WIP and tiered
stale rules, a webhook that gets the rebalancing, and the API's workload figures."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from alerting.rebalance import rebalance
from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.http import build_app
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF
from tests.fakes import FakeClock, RecordingReceiver
from tests.monitor.test_daemon import API_TOKEN as TOKEN
from tests.monitor.test_daemon import SECRET, registry_for, verify

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

LIMIT = 20


def settings_yaml(tickets: Path, hook: str) -> str:
    return f"""
sources:
  - kind: sql
    name: servicenow
    url: "sqlite:///{tickets}"
    interval: 15m
    first_window: 1h
    mapping:
      table: incidents
      id: number
      queue: assignment_group
      status: incident_state
      assignee: assigned_to
      created_at: opened_at
      resolved_at: resolved_at
      updated_at: sys_updated_at
      open_statuses: {json.dumps(list(data.OPEN_STATES))}
      history: {json.dumps(data.HISTORY)}
    workload:
      waiting_statuses: {json.dumps(list(data.WAITING))}
      stale_after: [7d]
      agents: {{max_agents: 1000}}
rules:
  - name: AgentOverWip
    kind: wip_limit
    wip_limit: {LIMIT}
    for: 15m
  - name: Waiting
    kind: stale
    measure: waiting
    tiers:
      - {{after: 10d, severity: warning, receivers: [team]}}
      - {{after: 60d, severity: critical, receivers: [team]}}
http:
  api_tokens: ["{TOKEN}"]
delivery:
  allowed_destinations: ["127.0.0.1"]  # the test's receiver is on loopback
receivers:
  - kind: webhook
    name: team
    url: {hook!r}
    secret: {SECRET!r}
"""


@pytest.fixture
def daemon(tmp_path: Path, store: sa.Engine, receiver: RecordingReceiver) -> Iterator[Daemon]:
    tickets = tmp_path / "tickets.db"
    engine = sa.create_engine(f"sqlite:///{tickets}")
    data.load(engine, AS_OF.replace(tzinfo=None))
    engine.dispose()
    settings = load_settings(text=settings_yaml(tickets, receiver.url))
    d = Daemon(settings, clock=FakeClock(AS_OF - timedelta(minutes=15)), engine=store, speedup=1e9)
    d.migrate()
    yield d
    d.close()


class TestWorkloadDaemon:
    def test_wip_and_waiting_alerts_reach_the_webhook_with_the_rebalancing(
        self, daemon: Daemon, receiver: RecordingReceiver
    ) -> None:
        """Two polls 15 minutes apart: the WIP alert fires on the busiest queue with its
        rebalancing attached, the waiting tier 1 fires with the tickets listed."""
        clock = daemon.clock
        assert isinstance(clock, FakeClock)
        for _ in range(2):
            assert daemon.poll("servicenow")
            daemon.evaluate()
            daemon.deliver()
            clock.advance(timedelta(minutes=15))
        bodies = [verify(r) for r in receiver.received]
        alerts = [a for b in bodies for a in b["alerts"]]
        wip = [a for a in alerts if a["labels"]["alertname"] == "AgentOverWip"]
        table, _ = data.store_tables(AS_OF.replace(tzinfo=None))
        open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
        loads = open_.groupby(["assignment_group", "assigned_to"]).size()
        over = sorted({g for (g, _), n in loads.items() if n > LIMIT})
        assert sorted(a["labels"]["queue"] for a in wip) == over
        for alert in wip:
            mine = loads[alert["labels"]["queue"]]
            plan = rebalance({str(a): int(n) for a, n in mine.items()}, LIMIT)
            assert alert["annotations"]["rebalance"] == plan.summary
        waiting = [a for a in alerts if a["labels"]["alertname"] == "Waiting_tier1"]
        assert waiting and all(a["labels"]["tier"] == "1" for a in waiting)
        assert all("tickets: INC" in a["stateReason"] for a in waiting)
        assert all(a["labels"]["alertname"] != "Waiting_tier2" for a in alerts)

    def test_api_serves_the_latest_workload(self, daemon: Daemon) -> None:
        """GET /api/v1/workload lists each queue's latest figures from the store."""
        assert daemon.poll("servicenow")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(build_app(daemon, registry_for(daemon)), headers=auth) as client:
            body = client.get("/api/v1/workload").json()
        table, _ = data.store_tables(AS_OF.replace(tzinfo=None))
        open_ = table[table["incident_state"].isin(data.OPEN_STATES)]
        by_queue = {r["queue"]: r["workload"] for r in body}
        for queue, mine in open_.groupby("assignment_group"):
            counts = mine["assigned_to"].dropna().value_counts()
            assert by_queue[queue]["agents_with_work"] == len(counts)
        assert isinstance(pd.Timestamp(body[0]["ts"]), pd.Timestamp)
