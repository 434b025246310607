"""Aggregation groups: timers, reasons, silences, muting, idempotency keys and payloads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from alerting.grouping import (
    AlertStatus,
    AlertView,
    Dispatch,
    GroupState,
    NotifyReason,
    notification,
    payload,
    plan,
)
from alerting.notifications import build
from alerting.routing import Route, RouteMatch, is_muted, match
from alerting.rules import ThresholdRule
from alerting.silences import Silence, parse_matchers, silenced_by
from alerting.state import AlertInstance, AlertState, Transition
from alerting.timeintervals import TimeInterval
from tests.fakes import T0

S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
ROUTE = RouteMatch("/0", "ops", group_by=("queue",))
FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED


def alert(
    name: str, queue: str = "L1", status: AlertStatus = FIRING, at: datetime = T0
) -> AlertView:
    return AlertView(
        fingerprint=f"fp-{name}-{queue}",
        labels={"alertname": name, "queue": queue, "severity": "warning"},
        annotations={"summary": f"{name} on {queue}"},
        status=status,
        starts_at=at,
        ends_at=None if status is FIRING else at + H,
        fire_value=600.0,
        current_value=400.0 if status is RESOLVED else 610.0,
        state_reason="test",
    )


def resolve(view: AlertView) -> AlertView:
    return replace(view, status=RESOLVED, ends_at=view.starts_at + H, current_value=400.0)


class Sim:
    """Runs :func:`plan` tick by tick, keeping the groups like the daemon's store would."""

    def __init__(
        self,
        routes: Sequence[RouteMatch] = (ROUTE,),
        muted: Callable[[RouteMatch, datetime], bool] = lambda route, now: False,
        silenced: Callable[[Mapping[str, str]], bool] = lambda labels: False,
        send_resolved: bool = True,
    ) -> None:
        self.groups: dict[str, GroupState] = {}
        self.routes = list(routes)
        self.muted = muted
        self.silenced = silenced
        self.send_resolved = send_resolved

    def tick(self, now: datetime, *alerts: AlertView) -> list[Dispatch]:
        self.groups, dispatches = plan(
            self.groups,
            alerts,
            now,
            lambda labels: self.routes,
            self.muted,
            self.silenced,
            lambda receiver: self.send_resolved,
        )
        return dispatches

    def reasons(self, now: datetime, *alerts: AlertView) -> list[NotifyReason]:
        return [d.reason for d in self.tick(now, *alerts)]


def names(dispatch: Dispatch) -> list[tuple[str, str]]:
    return [(a.labels["alertname"], a.status.value) for a in dispatch.alerts]


class TestTimers:
    def test_group_wait_delays_the_first_notification(self) -> None:
        """Nothing before ``group_wait``; the first notification when it has passed."""
        sim, a = Sim(), alert("A")
        assert sim.tick(T0, a) == []
        assert sim.tick(T0 + 29 * S, a) == []
        assert sim.reasons(T0 + 30 * S, a) == [NotifyReason.FIRST]

    def test_alerts_joining_within_group_wait_are_sent_together(self) -> None:
        """A second alert of the same group joins the first notification."""
        sim, a, b = Sim(), alert("A"), alert("B", at=T0 + 10 * S)
        sim.tick(T0, a)
        (first,) = sim.tick(T0 + 30 * S, a, b)
        assert names(first) == [("A", "firing"), ("B", "firing")]

    def test_new_alerts_wait_for_group_interval(self) -> None:
        """After a notification, a new alert waits for the next flush, ``group_interval`` on."""
        sim, a, b = Sim(), alert("A"), alert("B", at=T0 + M)
        sim.tick(T0, a)
        sim.tick(T0 + 30 * S, a)
        assert sim.tick(T0 + M, a, b) == []
        assert sim.tick(T0 + 5 * M + 29 * S, a, b) == []
        (update,) = sim.tick(T0 + 5 * M + 30 * S, a, b)
        assert (update.reason, names(update)) == (
            NotifyReason.NEW_ALERTS,
            [("A", "firing"), ("B", "firing")],
        )

    def test_old_alert_in_a_new_group_flushes_at_once(self) -> None:
        """An alert that started ``group_wait`` ago or more is not held again."""
        assert Sim().reasons(T0, alert("A", at=T0 - H)) == [NotifyReason.FIRST]

    def test_repeat_interval_resends_while_firing(self) -> None:
        """Unchanged firing alerts are re-sent once ``repeat_interval`` has passed."""
        sim, a = Sim(), alert("A")
        sent = [(t, sim.reasons(T0 + t * S, a)) for t in range(0, 5 * 3600, 30)]
        notified = [(t, r) for t, r in sent if r]
        assert notified == [
            (30, [NotifyReason.FIRST]),
            (30 + 4 * 3600, [NotifyReason.REPEAT]),
        ]

    def test_repeat_interval_is_rounded_up_to_group_interval(self) -> None:
        """``repeat_interval: 12m`` with ``group_interval: 5m`` repeats every 15 minutes."""
        config = Route(receiver="ops", repeat_interval=12 * M, group_interval=5 * M)
        sim, a = Sim(routes=match(config, {})), alert("A")
        sent = [t for t in range(0, 40 * 60, 30) if sim.tick(T0 + t * S, a)]
        assert sent == [30, 30 + 15 * 60, 30 + 30 * 60]


class TestReasons:
    def test_notification_reasons_are_alertmanagers(self) -> None:
        """Each reason maps to Alertmanager's ``notification_reason`` text."""
        assert [r.notification_reason for r in NotifyReason] == [
            "first notification",
            "new alerts added",
            "some alerts resolved",
            "all alerts resolved",
            "repeat interval elapsed",
        ]

    def test_some_then_all_resolved(self) -> None:
        """One of two resolving is SOME_RESOLVED; the last one is ALL_RESOLVED."""
        sim, a, b = Sim(), alert("A"), alert("B")
        sim.tick(T0, a, b)
        sim.tick(T0 + 30 * S, a, b)
        (some,) = sim.tick(T0 + 5 * M + 30 * S, a, resolve(b))
        assert (some.reason, names(some)) == (
            NotifyReason.SOME_RESOLVED,
            [("A", "firing"), ("B", "resolved")],
        )
        assert some.status is FIRING
        (every,) = sim.tick(T0 + 10 * M + 30 * S, resolve(a), resolve(b))
        assert (every.reason, names(every), every.status) == (
            NotifyReason.ALL_RESOLVED,
            [("A", "resolved")],
            RESOLVED,
        )

    def test_resolved_alerts_leave_the_group_once_sent(self) -> None:
        """After ALL_RESOLVED the group is dropped and later ticks send nothing."""
        sim, a = Sim(), alert("A")
        sim.tick(T0, a)
        sim.tick(T0 + 30 * S, a)
        assert sim.reasons(T0 + 5 * M + 30 * S, resolve(a)) == [NotifyReason.ALL_RESOLVED]
        assert sim.tick(T0 + 6 * M, resolve(a)) == []
        assert sim.groups == {}
        assert sim.tick(T0 + 20 * M, resolve(a)) == []

    def test_resolved_before_group_wait_produces_nothing(self) -> None:
        """An alert that resolves before the first flush is never notified."""
        sim, a = Sim(), alert("A")
        sim.tick(T0, a)
        assert sim.tick(T0 + 20 * S, resolve(a)) == []
        assert sim.tick(T0 + 30 * S, resolve(a)) == []
        assert sim.groups == {}

    def test_without_send_resolved_resolutions_are_not_sent(self) -> None:
        """With ``send_resolved: false`` neither partial nor full resolution notifies."""
        sim, a, b = Sim(send_resolved=False), alert("A"), alert("B")
        sim.tick(T0, a, b)
        sim.tick(T0 + 30 * S, a, b)
        assert sim.tick(T0 + 5 * M + 30 * S, a, resolve(b)) == []
        assert sim.tick(T0 + 10 * M + 30 * S, resolve(a), resolve(b)) == []
        assert sim.tick(T0 + 11 * M, resolve(a), resolve(b)) == []
        assert sim.groups == {}

    def test_refiring_after_resolution_is_new(self) -> None:
        """An alert that fires again after its resolution was sent is NEW_ALERTS."""
        sim, a, b = Sim(), alert("A"), alert("B")
        sim.tick(T0, a, b)
        sim.tick(T0 + 30 * S, a, b)
        sim.tick(T0 + 5 * M + 30 * S, a, resolve(b))
        assert sim.reasons(T0 + 10 * M + 30 * S, a, b) == [NotifyReason.NEW_ALERTS]


class TestSilencesAndMuting:
    def test_all_silenced_sends_nothing(self) -> None:
        """A group whose alerts are all silenced never notifies, not even on repeat."""
        sim = Sim(silenced=lambda labels: True)
        a = alert("A")
        assert [d for t in range(0, 5 * 3600, 60) for d in sim.tick(T0 + t * S, a)] == []

    def test_silenced_alerts_are_left_out(self) -> None:
        """Only the unsilenced alerts of a group are sent."""
        sim = Sim(silenced=lambda labels: labels["alertname"] == "B")
        sim.tick(T0, alert("A"), alert("B"))
        (first,) = sim.tick(T0 + 30 * S, alert("A"), alert("B"))
        assert names(first) == [("A", "firing")]

    def test_silence_expiry_notifies_at_the_next_flush(self) -> None:
        """Once the silence ends, the next flush sends the first notification."""
        quiet = {"on": True}
        sim, a = Sim(silenced=lambda labels: quiet["on"]), alert("A")
        sim.tick(T0, a)
        assert sim.tick(T0 + 30 * S, a) == []
        quiet["on"] = False
        assert sim.tick(T0 + M, a) == []
        assert sim.reasons(T0 + 5 * M + 30 * S, a) == [NotifyReason.FIRST]

    def test_silencing_a_notified_alert_stops_repeats_only(self) -> None:
        """A silenced firing alert is not repeated, and is not reported resolved either."""
        quiet = {"on": False}
        sim, a = Sim(silenced=lambda labels: quiet["on"]), alert("A")
        sim.tick(T0, a)
        sim.tick(T0 + 30 * S, a)
        quiet["on"] = True
        assert [d for t in range(60, 5 * 3600, 60) for d in sim.tick(T0 + t * S, a)] == []
        quiet["on"] = False
        later = range(5 * 3600, 5 * 3600 + 600, 60)
        assert [r for t in later for r in sim.reasons(T0 + t * S, a)] == [NotifyReason.REPEAT]

    def test_resolution_of_a_silenced_notified_alert_is_sent(self) -> None:
        """The receiver was told it fires, so it is told it resolved, silence or not."""
        sim, a = Sim(silenced=lambda labels: labels.get("queue") == "L1"), alert("A")
        unsilenced = Sim()
        unsilenced.tick(T0, a)
        unsilenced.tick(T0 + 30 * S, a)
        sim.groups = unsilenced.groups
        assert sim.reasons(T0 + 5 * M + 30 * S, resolve(a)) == [NotifyReason.ALL_RESOLVED]

    def test_muted_then_unmuted(self) -> None:
        """A muted route sends nothing but keeps its group; unmuted, it catches up."""
        mute = {"on": True}
        sim, a = Sim(muted=lambda route, now: mute["on"]), alert("A")
        sim.tick(T0, a)
        assert sim.tick(T0 + 30 * S, a) == []
        (group,) = sim.groups.values()
        assert group.last_notified_at is None
        mute["on"] = False
        assert sim.reasons(T0 + 5 * M + 30 * S, a) == [NotifyReason.FIRST]

    def test_resolution_during_mute_is_sent_after(self) -> None:
        """An alert that resolves while muted is reported resolved once unmuted."""
        mute = {"on": False}
        sim, a = Sim(muted=lambda route, now: mute["on"]), alert("A")
        sim.tick(T0, a)
        sim.tick(T0 + 30 * S, a)
        mute["on"] = True
        assert sim.tick(T0 + 5 * M + 30 * S, resolve(a)) == []
        mute["on"] = False
        assert sim.reasons(T0 + 10 * M + 30 * S, resolve(a)) == [NotifyReason.ALL_RESOLVED]


class TestGroupsAndKeys:
    def test_group_by_splits_groups(self) -> None:
        """Two queues are two groups with their own notifications and keys."""
        sim = Sim()
        sim.tick(T0, alert("A", "L1"), alert("A", "L2"))
        sent = sim.tick(T0 + 30 * S, alert("A", "L1"), alert("A", "L2"))
        assert [d.group_key for d in sent] == ['/0:{queue="L1"}', '/0:{queue="L2"}']
        assert [dict(d.group_labels) for d in sent] == [{"queue": "L1"}, {"queue": "L2"}]

    def test_each_matched_route_gets_its_group(self) -> None:
        """With ``continue`` an alert is grouped once per matched route."""
        sim = Sim(routes=[ROUTE, RouteMatch("/1", "pager")])
        sim.tick(T0, alert("A"))
        sent = sim.tick(T0 + 30 * S, alert("A"))
        assert [(d.receiver, d.group_key) for d in sent] == [
            ("ops", '/0:{queue="L1"}'),
            ("pager", "/1:{}"),
        ]

    def test_rerun_of_a_tick_gives_the_same_key(self) -> None:
        """The same groups, alerts and ``now`` give identical dispatches and groups."""
        sim, a = Sim(), alert("A")
        sim.tick(T0, a)
        before = dict(sim.groups)
        first = sim.tick(T0 + 30 * S, a)
        sim.groups = dict(before)
        again = sim.tick(T0 + 30 * S, a)
        assert first == again
        assert first[0].idempotency_key.startswith("grp_")

    def test_next_notification_gets_a_new_key(self) -> None:
        """Each notification of a group, and of a reopened group, has its own key."""
        sim, a = Sim(), alert("A")
        sim.tick(T0, a)
        keys = [d.idempotency_key for d in sim.tick(T0 + 30 * S, a)]
        keys += [d.idempotency_key for d in sim.tick(T0 + 5 * M + 30 * S, resolve(a))]
        sim.tick(T0 + 6 * M, resolve(a))
        sim.tick(T0 + 7 * M, alert("A", at=T0 + 7 * M))
        keys += [d.idempotency_key for d in sim.tick(T0 + 8 * M, alert("A", at=T0 + 7 * M))]
        assert len(keys) == len(set(keys)) == 3


class TestWithConfiguredPieces:
    def test_routes_silences_and_intervals_together(self) -> None:
        """A real tree, silence and maintenance window plug into ``plan`` as documented."""
        tree = Route.model_validate(
            {
                "receiver": "ops",
                "group_by": ["queue"],
                "routes": [
                    {
                        "matchers": ['queue=~"Bill.*"'],
                        "receiver": "billing",
                        "mute_time_intervals": ["maintenance"],
                    }
                ],
            }
        )
        window = {"start": T0 - H, "end": T0 + 10 * M}
        maintenance = TimeInterval.model_validate(
            {"name": "maintenance", "time_intervals": [{"absolute": [window]}]}
        )
        hush = Silence("s1", parse_matchers("queue=L2"), T0 - H, T0 + H, "ann", "known")
        alerts = (alert("A", "Billing"), alert("A", "L1"), alert("A", "L2"))
        groups: dict[str, GroupState] = {}
        sent: list[tuple[int, str, str]] = []
        for minute in range(0, 20):
            now = T0 + minute * M
            groups, dispatches = plan(
                groups,
                alerts,
                now,
                lambda labels: match(tree, labels),
                partial(is_muted, intervals={"maintenance": maintenance}),
                partial(_silenced, silences=[hush], now=now),
            )
            sent += [(minute, d.receiver, d.group_key) for d in dispatches]
        assert sent == [(1, "ops", '/:{queue="L1"}'), (11, "billing", '/0:{queue="Billing"}')]


def _silenced(labels: Mapping[str, str], silences: list[Silence], now: datetime) -> bool:
    return bool(silenced_by(labels, silences, now))


RULE = ThresholdRule.model_validate(
    {"name": "BacklogHigh", "metric": "open_tickets", "threshold": 500, "severity": "critical"}
)


def fired() -> AlertInstance:
    return replace(
        AlertInstance.new(RULE.name, RULE.labels_for("helpdesk", "L1")),
        state=AlertState.FIRING,
        fired_at=T0,
        fire_value=620.0,
        last_value=640.0,
        state_reason="last(open_tickets) = 620 > 500",
    )


class TestPayload:
    def test_fields_match_the_single_alert_notification(self) -> None:
        """Top-level and per-alert fields are those of ``notifications.build``."""
        view = AlertView.of(fired(), {"summary": "BacklogHigh on L1"})
        assert view is not None
        sim = Sim()
        sim.tick(T0, view)
        (dispatch,) = sim.tick(T0 + 30 * S, view)
        body = payload(dispatch, "http://monitor")
        single = build(RULE, fired(), Transition.FIRING, "ops", "http://monitor")
        assert body.keys() == single.payload.keys()
        assert body["alerts"][0].keys() == single.payload["alerts"][0].keys()
        assert body["alerts"][0]["values"] == {"fired": 620.0, "current": 640.0}
        assert body["notification_reason"] == "first notification"
        assert body["idempotencyKey"] == dispatch.idempotency_key
        assert body["alerts"][0]["startsAt"] == "2016-03-21T12:00:00Z"
        assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"

    def test_common_labels_and_status(self) -> None:
        """``commonLabels`` is the intersection; ``status`` is resolved only if all are."""
        sim, a, b = Sim(), alert("A"), alert("B")
        sim.tick(T0, a, b)
        sim.tick(T0 + 30 * S, a, b)
        (done,) = sim.tick(T0 + 5 * M + 30 * S, resolve(a), resolve(b))
        body = payload(done)
        assert body["status"] == "resolved"
        assert body["commonLabels"] == {"queue": "L1", "severity": "warning"}
        assert body["commonAnnotations"] == {}
        assert body["alerts"][0]["endsAt"] == "2016-03-21T13:00:00Z"

    def test_notification_wraps_the_payload_for_the_outbox(self) -> None:
        """The outbox message carries receiver, key, event and payload."""
        sim, a = Sim(), alert("A")
        sim.tick(T0, a)
        (dispatch,) = sim.tick(T0 + 30 * S, a)
        message = notification(dispatch)
        assert (message.receiver, message.event) == ("ops", "alert.firing")
        assert message.idempotency_key == dispatch.idempotency_key

    def test_views_exist_only_for_alerts_that_fired(self) -> None:
        """An instance that never fired has no view; a resolved one ends at ``resolved_at``."""
        fresh = AlertInstance.new(RULE.name, RULE.labels_for("helpdesk", "L1"))
        assert AlertView.of(replace(fresh, state=AlertState.PENDING, active_since=T0), {}) is None
        done = replace(fired(), state=AlertState.RESOLVED, resolved_at=T0 + H)
        view = AlertView.of(done, {})
        assert view is not None
        assert (view.status, view.ends_at) == (RESOLVED, T0 + H)

    def test_pending_again_after_resolving_is_still_resolved(self) -> None:
        """A resolved instance that breaches again (pending) still reports its resolution."""
        again = replace(fired(), state=AlertState.PENDING, resolved_at=T0 + H)
        view = AlertView.of(again, {})
        assert view is not None
        assert view.status is RESOLVED
