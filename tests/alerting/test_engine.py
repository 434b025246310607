"""One evaluation tick over stored rows, run tick after tick like the daemon does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.engine import TickResult, evaluate
from alerting.notifications import Notification
from alerting.rules import ThresholdRule
from alerting.state import AlertInstance, AlertState, Transition
from tests.alerting.test_rules import row, values
from tests.fakes import T0

MINIMAL = Path(__file__).resolve().parents[2] / "config" / "examples" / "minimal.yaml"
STEP = timedelta(minutes=15)
SOURCE, QUEUE = "helpdesk", "L1-service-desk"
RECEIVERS = ["ops-webhook"]

PENDING_WITH_DIP = "430 450 470 490 505 520 540 560 575 590 485 600 610 620 630 640 650"
"""Pending tickets every 15 minutes from T0: the 2-hour average passes 500 at T0+2h and
stays above it, while the count itself dips to 485 once, at T0+2h30."""
PENDING_NO_DIP = PENDING_WITH_DIP.replace(" 485 ", " 595 ")


def seed_rules() -> dict[str, ThresholdRule]:
    """The seed rule written both ways, as config/examples/minimal.yaml has it."""
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    rules = [ThresholdRule.model_validate(r) for r in data["rules"]]
    return {r.name: r for r in rules}


def rows(spec: str, *, start: datetime = T0, queue: str = QUEUE) -> list[dict[str, Any]]:
    """Stored rows whose pending count follows ``spec``, beside steady new/open counts."""
    out = []
    for i, pending in enumerate(values(spec)):
        if pending is None:
            continue
        breakdown = [
            ("new", "P2", 35 + i % 3),
            ("open", "P2", 310 - i),
            ("pending", "P2", int(pending) - 100),
            ("pending", "P3", 100),
        ]
        out.append({**row(start + i * STEP, breakdown), "source": SOURCE, "queue": queue})
    return out


@dataclass
class Daemon:
    """The evaluation loop around the pure engine: persists instances between ticks."""

    rules: Sequence[ThresholdRule]
    receivers: Sequence[str] = tuple(RECEIVERS)
    instances: dict[str, AlertInstance] = field(default_factory=dict)
    notifications: list[tuple[datetime, Notification]] = field(default_factory=list)
    transitions: list[tuple[datetime, str, Transition]] = field(default_factory=list)

    def tick(
        self,
        stored: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
        now: datetime,
        down: Mapping[str, str] | None = None,
    ) -> TickResult:
        visible = {key: [r for r in rs if r["ts"] <= now] for key, rs in stored.items()}
        result = evaluate(
            self.rules, visible, self.instances, down or {}, self.receivers, now, "http://bm:9464"
        )
        for inst in result.changed:
            self.instances[inst.fingerprint] = inst
        self.notifications += [(now, n) for n in result.notifications]
        self.transitions += [(now, inst.rule, t) for inst, t in result.transitions]
        return result

    def run(
        self,
        stored: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
        start: datetime,
        end: datetime,
    ) -> None:
        now = start
        while now <= end:
            self.tick(stored, now)
            now += STEP

    def state(self, rule: str) -> AlertState:
        (inst,) = [i for i in self.instances.values() if i.rule == rule]
        return inst.state

    def fired(self, rule: str) -> list[datetime]:
        return [
            when for when, name, t in self.transitions if name == rule and t is Transition.FIRING
        ]


def last_two_hours(spec: str, now_index: int) -> list[float]:
    expanded = [v for v in values(spec) if v is not None]
    return expanded[now_index - 7 : now_index + 1]


class TestSeedRuleBothWays:
    def test_series_is_what_the_test_claims(self) -> None:
        """The 2 hours before the end average over 500 and include one value under 500."""
        window = last_two_hours(PENDING_WITH_DIP, 16)
        assert sum(window) / len(window) > 500
        assert sum(v < 500 for v in window) == 1

    def test_avg_fires_for_does_not(self) -> None:
        """On a series that averages over 500 but dips once, avg/2h fires and for: 2h does not."""
        daemon = Daemon(list(seed_rules().values()))
        daemon.run({(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}, T0, T0 + 4 * timedelta(hours=1))
        assert daemon.state("BacklogHighAvg2h") is AlertState.FIRING
        assert daemon.fired("BacklogHighAvg2h") == [T0 + timedelta(hours=2)]
        assert daemon.state("BacklogHighFor2h") is AlertState.PENDING
        assert daemon.fired("BacklogHighFor2h") == []
        assert [n.payload["groupLabels"]["alertname"] for _, n in daemon.notifications] == [
            "BacklogHighAvg2h"
        ]

    def test_for_pending_restarts_after_dip(self) -> None:
        """The for: 2h rule went pending, was cancelled by the dip and went pending again."""
        daemon = Daemon([seed_rules()["BacklogHighFor2h"]])
        daemon.run({(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}, T0, T0 + timedelta(hours=4))
        assert [(when - T0, t) for when, _, t in daemon.transitions] == [
            (timedelta(hours=1), Transition.PENDING),
            (timedelta(hours=2, minutes=30), Transition.CANCELLED),
            (timedelta(hours=2, minutes=45), Transition.PENDING),
        ]

    def test_without_the_dip_for_fires_after_two_hours(self) -> None:
        """Without the dip the for: 2h rule fires exactly 2 hours after going pending."""
        daemon = Daemon(list(seed_rules().values()))
        daemon.run({(SOURCE, QUEUE): rows(PENDING_NO_DIP)}, T0, T0 + timedelta(hours=4))
        assert daemon.fired("BacklogHighFor2h") == [T0 + timedelta(hours=3)]
        assert daemon.fired("BacklogHighAvg2h") == [T0 + timedelta(hours=2)]

    def test_avg_value_is_the_pending_mean(self) -> None:
        """The avg rule's fire value is the mean pending count, not the open total."""
        daemon = Daemon([seed_rules()["BacklogHighAvg2h"]])
        daemon.run({(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}, T0, T0 + timedelta(hours=2))
        ((_, note),) = daemon.notifications
        window = last_two_hours(PENDING_WITH_DIP, 8)
        assert note.payload["alerts"][0]["values"]["fired"] == sum(window) / len(window)


def firing_daemon(rules: Sequence[ThresholdRule] | None = None) -> tuple[Daemon, dict[Any, Any]]:
    """A daemon whose avg rule fired at T0+2h on the dip series."""
    daemon = Daemon(list(rules or [seed_rules()["BacklogHighAvg2h"]]))
    stored = {(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}
    daemon.run(stored, T0, T0 + timedelta(hours=2))
    assert daemon.state("BacklogHighAvg2h") is AlertState.FIRING
    return daemon, stored


class TestDownSources:
    def test_down_source_keeps_state(self) -> None:
        """A down source gives EvalError: firing stays firing, nothing is notified."""
        daemon, _ = firing_daemon()
        low = {(SOURCE, QUEUE): rows("100x16", start=T0 + timedelta(hours=2))}
        before = len(daemon.notifications)
        for minutes in range(15, 6 * 60, 15):
            result = daemon.tick(low, T0 + timedelta(hours=2, minutes=minutes), {SOURCE: "timeout"})
            assert result.transitions == []
            assert result.notifications == []
        inst = next(iter(daemon.instances.values()))
        assert inst.state is AlertState.FIRING
        assert "source down (timeout)" in inst.state_reason
        assert len(daemon.notifications) == before

    def test_down_source_only_affects_its_queues(self) -> None:
        """Another source being down does not stop this source's alert from resolving."""
        daemon, _ = firing_daemon()
        now = T0 + timedelta(hours=2, minutes=15)
        low = {(SOURCE, QUEUE): rows("100x9", start=now - timedelta(hours=2))}
        result = daemon.tick(low, now, {"other-desk": "refused"})
        assert [t for _, t in result.transitions] == [Transition.RESOLVED]

    def test_lost_data_keeps_firing(self) -> None:
        """A firing queue with no rows left is still evaluated (NoData) and kept firing."""
        daemon, _ = firing_daemon()
        result = daemon.tick({}, T0 + timedelta(hours=3))
        assert result.evaluated == 1
        assert result.transitions == []
        assert daemon.state("BacklogHighAvg2h") is AlertState.FIRING

    def test_recovered_source_resolves(self) -> None:
        """Once the source is back and the average is low again, the alert resolves."""
        daemon, _ = firing_daemon()
        now = T0 + timedelta(hours=5)
        daemon.tick({}, now - STEP, {SOURCE: "timeout"})
        low = {(SOURCE, QUEUE): rows("300x9", start=now - timedelta(hours=2))}
        result = daemon.tick(low, now)
        assert [t for _, t in result.transitions] == [Transition.RESOLVED]


class TestNotificationsFromTicks:
    def test_fire_and_current_values(self) -> None:
        """The resolved notification carries the value that fired and the current value."""
        daemon, _ = firing_daemon()
        (_, fired) = daemon.notifications[0]
        fire_value = fired.payload["alerts"][0]["values"]["fired"]
        assert fired.payload["alerts"][0]["values"] == {"fired": fire_value, "current": fire_value}
        now = T0 + timedelta(hours=5)
        daemon.tick({(SOURCE, QUEUE): rows("420x8", start=now - timedelta(minutes=105))}, now)
        (_, resolved) = daemon.notifications[-1]
        assert resolved.payload["status"] == "resolved"
        assert resolved.payload["alerts"][0]["values"] == {"fired": fire_value, "current": 420.0}

    def test_pending_and_cancelled_are_not_notified(self) -> None:
        """Pending and cancelled transitions are recorded but notify nobody."""
        daemon = Daemon([seed_rules()["BacklogHighFor2h"]])
        daemon.run({(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}, T0, T0 + timedelta(hours=4))
        assert daemon.transitions
        assert daemon.notifications == []

    @pytest.mark.parametrize(
        ("targets", "expected"),
        [
            (None, ["chat", "ops-webhook", "pager"]),
            (["pager"], ["pager"]),
            (["pager", "chat"], ["chat", "pager"]),
            ([], []),
        ],
    )
    def test_routes_to_named_receivers(
        self, targets: list[str] | None, expected: list[str]
    ) -> None:
        """rule.receivers routes only to the named receivers; omitted means all of them."""
        base = seed_rules()["BacklogHighAvg2h"].model_dump(by_alias=True)
        routed = ThresholdRule.model_validate({**base, "receivers": targets})
        daemon = Daemon([routed], receivers=("chat", "ops-webhook", "pager"))
        daemon.run({(SOURCE, QUEUE): rows(PENDING_WITH_DIP)}, T0, T0 + timedelta(hours=2))
        assert sorted(n.receiver for _, n in daemon.notifications) == expected
        assert all(n.payload["receiver"] == n.receiver for _, n in daemon.notifications)

    def test_idempotency_key_stable_when_rebuilt(self) -> None:
        """Re-running a tick from the same persisted state rebuilds identical notifications."""
        daemon, _ = firing_daemon()
        now = T0 + timedelta(hours=5)
        low = {(SOURCE, QUEUE): rows("300x9", start=now - timedelta(hours=2))}
        snapshot = dict(daemon.instances)
        first = daemon.tick(low, now).notifications
        daemon.instances = dict(snapshot)  # the commit was lost: evaluate again
        again = daemon.tick(low, now).notifications
        assert [n.idempotency_key for n in first] == [n.idempotency_key for n in again]
        assert first == again

    def test_idempotency_key_differs_per_event(self) -> None:
        """Firing, resolving and firing again are three different keys."""
        daemon, _ = firing_daemon()
        now = T0 + timedelta(hours=5)
        daemon.tick({(SOURCE, QUEUE): rows("300x9", start=now - timedelta(hours=2))}, now)
        later = now + timedelta(hours=3)
        daemon.tick({(SOURCE, QUEUE): rows("900x9", start=later - timedelta(hours=2))}, later)
        keys = [n.idempotency_key for _, n in daemon.notifications]
        events = [n.event for _, n in daemon.notifications]
        assert events == ["alert.firing", "alert.resolved", "alert.firing"]
        assert len(set(keys)) == 3

    def test_external_url_is_the_generator(self) -> None:
        """The daemon's external URL is passed into the payload."""
        daemon, _ = firing_daemon()
        (_, note) = daemon.notifications[0]
        assert note.payload["externalURL"] == "http://bm:9464"
        assert note.payload["alerts"][0]["generatorURL"] == "http://bm:9464"


class TestSelectionAndBookkeeping:
    def test_one_instance_per_queue(self) -> None:
        """Each matching queue gets its own instance with its own labels."""
        rule = seed_rules()["BacklogHighAvg2h"]
        stored = {
            (SOURCE, "L1"): rows("600x9", queue="L1"),
            (SOURCE, "L2"): rows("100x9", queue="L2"),
        }
        daemon = Daemon([rule])
        result = daemon.tick(stored, T0 + 2 * timedelta(hours=1))
        assert result.evaluated == 2
        assert [(i.labels["queue"], i.state) for i in result.changed] == [("L1", AlertState.FIRING)]

    def test_queue_matcher_limits_the_rule(self) -> None:
        """A rule matching one queue evaluates only that queue."""
        base = seed_rules()["BacklogHighAvg2h"].model_dump(by_alias=True)
        rule = ThresholdRule.model_validate({**base, "match": {"status": "pending", "queue": "L2"}})
        stored = {
            (SOURCE, "L1"): rows("600x9", queue="L1"),
            (SOURCE, "L2"): rows("600x9", queue="L2"),
        }
        result = Daemon([rule]).tick(stored, T0 + 2 * timedelta(hours=1))
        assert result.evaluated == 1
        assert [i.labels["queue"] for i in result.changed] == ["L2"]

    def test_inactive_unchanged_instances_are_not_persisted(self) -> None:
        """A queue that stays Ok produces no instance to write."""
        result = Daemon([seed_rules()["BacklogHighAvg2h"]]).tick(
            {(SOURCE, QUEUE): rows("100x9")}, T0 + 2 * timedelta(hours=1)
        )
        assert (result.evaluated, result.changed, result.transitions) == (1, [], [])

    def test_instance_identity(self) -> None:
        """Instances are keyed by the fingerprint of their labels and name their rule."""
        daemon, _ = firing_daemon()
        ((fp, inst),) = daemon.instances.items()
        assert fp == inst.fingerprint
        assert inst.rule == "BacklogHighAvg2h"
        assert inst.labels == {
            "alertname": "BacklogHighAvg2h",
            "source": SOURCE,
            "queue": QUEUE,
            "severity": "warning",
        }
