"""Notification payloads: Alertmanager's webhook format (version 4) plus our values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest

from alerting.notifications import ZERO_TIME, annotations_for, build, idempotency_key, iso
from alerting.rules import ThresholdRule
from alerting.state import AlertInstance, AlertState, Transition
from tests.fakes import T0

H = timedelta(hours=1)
RULE = ThresholdRule.model_validate(
    {
        "name": "BacklogHighAvg2h",
        "metric": "open_tickets",
        "match": {"status": "pending"},
        "reduce": "avg",
        "window": "2h",
        "threshold": 500,
        "for": "30m",
        "severity": "critical",
        "labels": {"team": "service-desk"},
        "annotations": {
            "summary": "{queue}: {value} pending on average over {window} (limit {threshold})",
            "description": "fired at {fire_value}, rule {expression}, held {for}, {runbook}",
        },
    }
)
LABELS = {**RULE.labels_for("helpdesk", "L1"), "team": "service-desk"}


def fired() -> AlertInstance:
    return replace(
        AlertInstance.new(RULE.name, LABELS),
        state=AlertState.FIRING,
        active_since=T0 - timedelta(minutes=30),
        fired_at=T0,
        fire_value=513.75,
        last_value=513.75,
        last_eval_at=T0,
        state_reason="avg(open_tickets[2h]) = 513.75 > 500 for 0:30:00",
    )


def resolved() -> AlertInstance:
    return replace(
        fired(),
        state=AlertState.RESOLVED,
        resolved_at=T0 + 3 * H,
        active_since=None,
        last_value=420.0,
        last_eval_at=T0 + 3 * H,
        state_reason="avg(open_tickets[2h]) = 420, not > 500",
    )


def alert_of(payload: Any) -> dict[str, Any]:
    (alert,) = payload["alerts"]
    return alert  # type: ignore[no-any-return]


class TestFiringPayload:
    def test_envelope(self) -> None:
        """A firing payload is Alertmanager version 4 with one firing alert for the receiver."""
        note = build(RULE, fired(), Transition.FIRING, "ops", "http://bm:9464")
        payload = note.payload
        assert payload["version"] == "4"
        assert payload["status"] == "firing"
        assert payload["receiver"] == "ops"
        assert payload["groupLabels"] == {"alertname": "BacklogHighAvg2h"}
        assert payload["commonLabels"] == LABELS
        assert payload["truncatedAlerts"] == 0
        assert payload["externalURL"] == "http://bm:9464"
        assert payload["idempotencyKey"] == note.idempotency_key
        assert (note.receiver, note.event) == ("ops", "alert.firing")
        assert len(payload["alerts"]) == 1

    def test_alert(self) -> None:
        """The alert has status, labels, startsAt, zero endsAt, fingerprint and both values."""
        inst = fired()
        alert = alert_of(build(RULE, inst, Transition.FIRING, "ops").payload)
        assert alert["status"] == "firing"
        assert alert["labels"] == LABELS
        assert alert["startsAt"] == "2016-03-21T12:00:00Z"
        assert alert["endsAt"] == ZERO_TIME == "0001-01-01T00:00:00Z"
        assert alert["fingerprint"] == inst.fingerprint
        assert alert["values"] == {"fired": 513.75, "current": 513.75}
        assert alert["stateReason"] == inst.state_reason

    def test_annotations_templated(self) -> None:
        """{queue}, {value}, {threshold}, {window}, {fire_value}, {expression}, {for} are filled."""
        annotations = alert_of(build(RULE, fired(), Transition.FIRING, "ops").payload)[
            "annotations"
        ]
        assert annotations["summary"] == "L1: 513.75 pending on average over 2h (limit 500)"
        assert annotations["description"] == (
            'fired at 513.75, rule avg(open_tickets{status="pending"}[2h]) > 500, '
            "held 30m, {runbook}"
        )

    def test_large_values_in_full(self) -> None:
        """Ages in seconds appear in full in annotations, not as 1.2096e+06."""
        age_rule = ThresholdRule.model_validate(
            {
                "name": "OldestTicket",
                "metric": "oldest_ticket_age_seconds",
                "threshold": 1209600,
                "annotations": {"summary": "{queue}: oldest {value}s (limit {threshold}s)"},
            }
        )
        inst = replace(fired(), last_value=1234567.0)
        assert annotations_for(age_rule, inst)["summary"] == "L1: oldest 1234567s (limit 1209600s)"

    def test_common_annotations_match(self) -> None:
        """commonAnnotations equal the single alert's annotations."""
        payload = build(RULE, fired(), Transition.FIRING, "ops").payload
        assert payload["commonAnnotations"] == alert_of(payload)["annotations"]

    def test_default_summary(self) -> None:
        """A rule without a summary annotation gets '<rule> on <queue>'."""
        bare = RULE.model_copy(update={"annotations": {}})
        assert annotations_for(bare, fired()) == {"summary": "BacklogHighAvg2h on L1"}

    def test_labels_are_copies(self) -> None:
        """The payload's labels are a plain dict that does not alias the instance's."""
        inst = fired()
        payload = build(RULE, inst, Transition.FIRING, "ops").payload
        assert alert_of(payload)["labels"] is not inst.labels

    def test_json_serialisable(self) -> None:
        """The payload round-trips through JSON unchanged (it is stored in the outbox)."""
        payload = build(RULE, resolved(), Transition.RESOLVED, "ops").payload
        assert json.loads(json.dumps(payload)) == payload


class TestResolvedPayload:
    def test_status_and_times(self) -> None:
        """A resolved alert keeps startsAt and has endsAt at the resolution time."""
        note = build(RULE, resolved(), Transition.RESOLVED, "ops")
        alert = alert_of(note.payload)
        assert note.event == "alert.resolved"
        assert note.payload["status"] == alert["status"] == "resolved"
        assert alert["startsAt"] == "2016-03-21T12:00:00Z"
        assert alert["endsAt"] == "2016-03-21T15:00:00Z"

    def test_values_fired_and_current(self) -> None:
        """values.fired is the value that fired, values.current the latest one."""
        alert = alert_of(build(RULE, resolved(), Transition.RESOLVED, "ops").payload)
        assert alert["values"] == {"fired": 513.75, "current": 420.0}

    def test_annotations_show_current_value(self) -> None:
        """{value} is the current value, {fire_value} the one that fired."""
        annotations = alert_of(build(RULE, resolved(), Transition.RESOLVED, "ops").payload)[
            "annotations"
        ]
        assert annotations["summary"] == "L1: 420 pending on average over 2h (limit 500)"
        assert annotations["description"].startswith("fired at 513.75,")

    def test_missing_values_are_na(self) -> None:
        """An instance with no value yet renders {value} as n/a."""
        inst = replace(fired(), last_value=None, fire_value=None)
        assert annotations_for(RULE, inst)["summary"].startswith("L1: n/a pending")


class TestIdempotencyKey:
    def test_stable_when_rebuilt(self) -> None:
        """Building the same transition twice gives the same key and the same payload."""
        first = build(RULE, fired(), Transition.FIRING, "ops")
        again = build(RULE, fired(), Transition.FIRING, "ops")
        assert first.idempotency_key == again.idempotency_key
        assert first == again

    def test_ignores_later_evaluations(self) -> None:
        """Values and evaluation times that change after the transition do not change the key."""
        later = replace(fired(), last_value=999.0, last_eval_at=T0 + H, state_reason="x")
        assert idempotency_key("ops", later, Transition.FIRING) == idempotency_key(
            "ops", fired(), Transition.FIRING
        )

    @pytest.mark.parametrize(
        ("receiver", "instance", "transition"),
        [
            ("pager", fired(), Transition.FIRING),
            ("ops", resolved(), Transition.RESOLVED),
            ("ops", replace(fired(), fired_at=T0 + 5 * H), Transition.FIRING),
            ("ops", AlertInstance.new(RULE.name, {**LABELS, "queue": "L2"}), Transition.FIRING),
        ],
        ids=["receiver", "transition", "fired-again", "other-queue"],
    )
    def test_differs_per_delivery(
        self, receiver: str, instance: AlertInstance, transition: Transition
    ) -> None:
        """Receiver, instance, transition and its time each change the key."""
        base = idempotency_key("ops", fired(), Transition.FIRING)
        assert idempotency_key(receiver, instance, transition) != base

    def test_format(self) -> None:
        """Keys are msg_ and 32 hex digits (a valid Standard Webhooks id)."""
        key = idempotency_key("ops", fired(), Transition.FIRING)
        assert key.startswith("msg_")
        assert len(key) == 36
        int(key.removeprefix("msg_"), 16)

    def test_same_instant_other_zone(self) -> None:
        """The same fire instant written in another time zone gives the same key."""
        zone = timezone(timedelta(hours=-3))
        elsewhere = replace(fired(), fired_at=T0.astimezone(zone))
        assert idempotency_key("ops", elsewhere, Transition.FIRING) == idempotency_key(
            "ops", fired(), Transition.FIRING
        )


class TestIso:
    def test_utc_with_z(self) -> None:
        """UTC instants are written RFC 3339 with a Z."""
        assert iso(T0) == "2016-03-21T12:00:00Z"
        assert iso(T0 + timedelta(microseconds=250000)) == "2016-03-21T12:00:00.250000Z"

    def test_none_is_zero_time(self) -> None:
        """No instant is Alertmanager's zero time."""
        assert iso(None) == ZERO_TIME

    def test_other_zone_converted_to_utc(self) -> None:
        """An instant in another zone is written in UTC with a Z."""
        zone = timezone(timedelta(hours=-3))
        assert iso(T0.astimezone(zone)) == "2016-03-21T12:00:00Z"
