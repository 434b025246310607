"""WIP-limit, tiered stale and routing rules on real ServiceNow figures from the store.

The tickets are the ServiceNow log as it stood on 1 April 2016 (SQLite); the collector
polls them every 15 minutes up to that instant, the polls go through the history store,
and the rules are evaluated on the stored rows with ``now`` stepped by hand. Expected
values are computed with pandas from the same tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter

from alerting.engine import evaluate
from alerting.rebalance import rebalance
from alerting.rules import EvalContext, Rule, expand_tiers
from alerting.state import AlertInstance, AlertState
from collectors.base import Window
from collectors.sql import SqlCollector
from config.loader import load_settings
from monitor.errors import ConfigError
from monitor.notifying import attach_rebalancing
from monitor.store import history
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF, NOW, config

RULE: TypeAdapter[Any] = TypeAdapter(Rule)
POLLS = [AS_OF - timedelta(minutes=m) for m in (30, 15, 0)]
Series = dict[tuple[str, str], list[dict[str, Any]]]
LINK = "https://desk.example/incident/{id}"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Series, pd.DataFrame]]:
    """Three polls of the real tickets, stored and read back as the rules read them."""
    from monitor.store.engine import migrate, open_store

    root: Path = tmp_path_factory.mktemp("workload-rules")
    url = f"sqlite:///{root}/tickets.db"
    writer = sa.create_engine(url)
    table, _ = data.load(writer, AS_OF.replace(tzinfo=None))
    writer.dispose()
    store = open_store(f"sqlite:///{root}/history.db")
    migrate(store)
    collector = SqlCollector(config(url, ticket_url=LINK))
    start = AS_OF - timedelta(days=7)
    for end in POLLS:
        snapshot = collector.collect(Window(start, end))
        with store.begin() as conn:
            history.record_snapshot(conn, snapshot)
        start = end
    collector.close()
    with store.connect() as conn:
        series = history.series(conn, AS_OF - timedelta(days=8), AS_OF)
    store.dispose()
    yield series, table


def open_loads(table: pd.DataFrame) -> pd.DataFrame:
    open_ = table[table["incident_state"].isin(data.OPEN_STATES) & table["assigned_to"].notna()]
    return open_.groupby(["assignment_group", "assigned_to"]).size().rename("n").reset_index()


class TestWipLimit:
    def test_busiest_agent_over_the_limit_fires_after_for_with_a_rebalancing(
        self, stored: tuple[Series, pd.DataFrame]
    ) -> None:
        """The queue with the busiest agent fires after for; the alert names the agents
        over and under the limit and carries the rebalancing computed from pandas' loads."""
        series, table = stored
        loads = open_loads(table)
        busiest = loads.sort_values(["n", "assignment_group"], ascending=[False, True]).iloc[0]
        queue, limit = str(busiest.assignment_group), int(busiest.n) - 1
        rule = RULE.validate_python(
            {
                "name": "Wip",
                "kind": "wip_limit",
                "wip_limit": limit,
                "for": "15m",
                "match": {"queue": queue},
            }
        )
        instances: dict[str, AlertInstance] = {}
        states = []
        for now in POLLS:
            result = evaluate([rule], series, instances, {}, ["team"], now)
            instances.update({i.fingerprint: i for i in result.changed})
            states.append(next(iter(instances.values())).state)
        assert states == [AlertState.PENDING, AlertState.FIRING, AlertState.FIRING]
        mine = loads[loads["assignment_group"] == queue]
        per_agent = {str(a): int(n) for a, n in zip(mine["assigned_to"], mine["n"], strict=True)}
        reason = next(iter(instances.values())).state_reason
        assert f"{busiest.assigned_to} ({busiest.n} open)" in reason
        plan = rebalance(per_agent, limit)
        for agent, n in plan.spare[:5]:
            assert f"{agent} ({n} open)" in reason
        fired = evaluate([rule], series, {}, {}, ["team"], POLLS[0])  # nothing yet: pending
        assert fired.notifications == []
        first = evaluate([rule], series, {}, {}, ["team"], POLLS[-1])
        instances = {i.fingerprint: i for i in first.changed}
        later = evaluate([rule], series, instances, {}, ["team"], POLLS[-1] + timedelta(minutes=15))
        notes = attach_rebalancing(later.notifications, [rule], series, POLLS[-1])
        alert = notes[0].payload["alerts"][0]
        assert alert["annotations"]["rebalance"] == plan.summary
        assert alert["rebalance"]["moves"] == plan.to_payload()["moves"]


class TestTieredStale:
    def test_each_tier_fires_with_its_own_severity_and_receivers(
        self, stored: tuple[Series, pd.DataFrame]
    ) -> None:
        """Remind after 3 days, escalate after 20: queues past 3 but not 20 days notify the
        team only; the notification lists the least recently updated tickets."""
        series, table = stored
        tiered = RULE.validate_python(
            {
                "name": "Stale",
                "kind": "stale",
                "listed": 3,
                "tiers": [
                    {"after": "3d", "severity": "warning", "receivers": ["team"]},
                    {"after": "20d", "severity": "critical", "receivers": ["boss"]},
                ],
            }
        )
        rules = expand_tiers([tiered])
        assert [(r.name, r.severity, r.receivers) for r in rules] == [
            ("Stale_tier1", "warning", ("team",)),
            ("Stale_tier2", "critical", ("boss",)),
        ]
        open_ = table[table["incident_state"].isin(data.OPEN_STATES)]
        oldest = NOW - open_.groupby("assignment_group")["sys_updated_at"].min()
        # every queue fires at its first evaluation past the age (for: 0): the first tick
        first = evaluate(rules, series, {}, {}, ["team", "boss"], POLLS[0])
        firing = {
            (n.payload["commonLabels"]["alertname"], n.payload["commonLabels"]["queue"], n.receiver)
            for n in first.notifications
        }
        at_first = NOW - pd.Timedelta(minutes=30)
        ages = oldest - (NOW - at_first)
        want = {("Stale_tier1", q, "team") for q, a in ages.items() if a > pd.Timedelta(days=3)}
        want |= {("Stale_tier2", q, "boss") for q, a in ages.items() if a > pd.Timedelta(days=20)}
        assert firing == want
        assert any(t == "Stale_tier1" for t, _, _ in want) and any(
            t == "Stale_tier2" for t, _, _ in want
        )
        queue = max(ages.index, key=lambda q: (ages[q], q))
        note = next(
            n
            for n in first.notifications
            if n.payload["commonLabels"]["queue"] == queue and n.receiver == "boss"
        )
        reason = note.payload["alerts"][0]["stateReason"]
        mine = open_[open_["assignment_group"] == queue].sort_values(["sys_updated_at", "number"])
        assert reason.index(mine["number"].iloc[0]) < reason.index(mine["number"].iloc[1])
        assert mine["number"].iloc[3] not in reason  # listed: 3
        assert LINK.replace("{id}", mine["number"].iloc[0]) in reason
        assert "more listed" in reason


class TestRoutingRule:
    def test_misroute_and_reopen_rates_over_the_window(
        self, stored: tuple[Series, pd.DataFrame]
    ) -> None:
        """misroute_rate over 7 days is misrouted / resolved of the window's polls."""
        series, table = stored
        _, log = data.store_tables(AS_OF.replace(tzinfo=None))
        start = NOW - pd.Timedelta(days=7)
        done = table[
            ~table["incident_state"].isin(data.OPEN_STATES)
            & (table["resolved_at"] >= start)
            & (table["resolved_at"] < NOW)
        ]
        moved = done["number"].isin(set(log.loc[log["moved"] == 1, "number"]))
        per_queue = moved.groupby(done["assignment_group"]).agg(["sum", "size"])
        queue = per_queue.sort_values(["size"], ascending=False).index[0]
        rate = per_queue.loc[queue, "sum"] / per_queue.loc[queue, "size"]
        rule = RULE.validate_python(
            {
                "name": "Misroutes",
                "kind": "routing",
                "measure": "misroute_rate",
                "window": "8d",
                "threshold": 0.15,
            }
        )
        key = ("sn", str(queue))
        measured = rule.compute(series[key], AS_OF, None, key)
        assert measured.value == rate
        reopen = RULE.validate_python(
            {
                "name": "Reopens",
                "kind": "routing",
                "measure": "reopen_rate",
                "window": "8d",
                "threshold": 0.05,
            }
        )
        mine = done[done["assignment_group"] == queue]
        assert reopen.compute(series[key], AS_OF, None, key).value == (
            (mine["reopen_count"] > 0).sum() / len(mine)
        )


class TestTierConfig:
    BASE = """
receivers:
  - {kind: webhook, name: team, url: "https://example.com/hook"}
rules:
  - name: Stale
    kind: stale
    tiers:
      - {after: 3d, severity: warning, receivers: [team]}
      - {after: 7d, severity: critical%s}
"""

    def test_tier_without_receiver_is_an_error_with_its_path(self) -> None:
        """A tier with no receivers is a configuration error at its path."""
        with pytest.raises(ConfigError) as err:
            load_settings(text=self.BASE % "")
        assert [p for p, _ in err.value.problems] == ["rules -> 0 -> tiers -> 1 -> receivers"]

    def test_tier_naming_an_unknown_receiver_is_an_error(self) -> None:
        """A tier's receiver must be configured."""
        with pytest.raises(ConfigError) as err:
            load_settings(text=self.BASE % ", receivers: [boss]")
        assert err.value.problems == [
            ("rules -> 0 -> tiers -> 1 -> receivers", "no receiver named 'boss'")
        ]


class TestOverrides:
    def test_an_override_sets_the_queue_s_wip_limit_and_its_rebalancing(
        self, stored: tuple[Series, pd.DataFrame]
    ) -> None:
        """An override's threshold is the queue's WIP limit, for the alert and the plan."""
        series, table = stored
        loads = open_loads(table)
        busiest = loads.sort_values(["n", "assignment_group"], ascending=[False, True]).iloc[0]
        queue = str(busiest.assignment_group)
        rule = RULE.validate_python(
            {
                "name": "Wip",
                "kind": "wip_limit",
                "wip_limit": 1000,
                "overrides": [{"match": {"queue": queue}, "threshold": 5}],
            }
        )
        key = ("sn", queue)
        result = rule.outcome(series[key], AS_OF, EvalContext(), key, firing=False, last_value=None)
        assert result.value == busiest.n and "over 5:" in result.reason
        mine = loads[loads["assignment_group"] == queue]
        per_agent = {str(a): int(n) for a, n in zip(mine["assigned_to"], mine["n"], strict=True)}
        assert rule.plan(series[key], AS_OF, key) == rebalance(per_agent, 5)
