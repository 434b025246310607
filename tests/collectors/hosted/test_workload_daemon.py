"""A hosted source's workload figures through the daemon: stored, exported, alerted on.

ServiceNow (its fake server replaying the real incident log) with a ``workload`` section
polls for two simulated hours; the figures the daemon stores and exports as metrics are
those pandas computes from the same log at the last poll, and a WIP rule and a waiting
rule fire on them (the alert names the agents, the waiting age comes from the last
update).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.clock import FakeClock
from monitor.metrics import BacklogCollector
from monitor.store import alerts as alert_store
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import stepped_daemon
from tests.collectors.hostedworkload import expected_workloads
from tests.collectors.stores import servicenow

START = datetime(2016, 3, 21, 12, tzinfo=UTC)
HOURS = 2
WORKLOAD = {
    "assignees": True,
    "stale_after": ["3d"],
    "waiting_statuses": ["Awaiting User Info", "Awaiting Vendor"],
    "routing": True,
    "top_categories": 3,
    "agents": {"max_agents": 1000},
}
RULES = [
    {"name": "AgentOverWip", "kind": "wip_limit", "wip_limit": 20},
    {"name": "LongWait", "kind": "stale", "measure": "waiting", "threshold": "7d"},
]


def _sample(metrics: str, name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(w in match.group(1) for w in wanted):
            return float(match.group(2))
    raise AssertionError(f"no {name} sample with {labels}")


def test_servicenow_workload_through_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = servicenow.Kit()
    for name, value in kit.environment.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock(START)
    with FakeServer(kit.app(clock, {})) as server:
        daemon, config, polls = stepped_daemon(
            kit,
            server.url,
            clock,
            tmp_path,
            START + timedelta(hours=HOURS),
            interval="5m",
            rules=RULES,
            workload=WORKLOAD,
        )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            BacklogCollector(
                daemon.engine, daemon.stats, lambda: daemon.source_names, clock, daemon.rules
            )
        )
        metrics = generate_latest(registry).decode()
        with daemon.engine.connect() as conn:
            instances = alert_store.load_instances(conn).values()
        daemon.close()
    assert not daemon.stats.collector_errors
    assert len(polls) >= HOURS * 12 - 1
    last, before = polls[-1], polls[-2]
    expected = expected_workloads(
        kit.log(), config.assignment_groups, before, last, config.workload
    )
    checked = 0
    for queue, w in expected.items():
        for agent in w.agents or ():
            got = _sample(metrics, "backlog_agent_open_tickets", queue=queue, agent=agent.agent)
            assert got == agent.open
            checked += 1
        assert w.stale is not None
        got = _sample(metrics, "backlog_stale_open_tickets", queue=queue, age="3d")
        assert got == w.stale["3d"]
        for waiting in w.waiting or ():
            labels = {"queue": queue, "status": waiting.status, "age_from": "last_update"}
            assert _sample(metrics, "backlog_waiting_tickets", **labels) == waiting.count
        assert w.routing is not None
        reopened = _sample(metrics, "backlog_routing_reopened_last_poll", queue=queue)
        assert reopened == w.routing.reopened
    assert checked > 50
    assert "\nbacklog_routing_misrouted_last_poll{" not in metrics  # not recorded: absent
    states = {(i.rule, i.state.value) for i in instances}
    assert ("AgentOverWip", "firing") in states
    assert ("LongWait", "firing") in states
