"""The PagerDuty notifier: Events v2 trigger/resolve pairs, severity mapping, status mapping."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.notifiers.pagerduty import (
    PagerDutyNotifier,
    PagerDutyReceiverConfig,
    pagerduty_error,
    redact,
    render_events,
    severity,
)
from monitor.errors import NotifierError
from tests.alerting.notifiers.conftest import (
    LABELS,
    assert_no_secret_in_error,
    body_of,
    closed_url,
    notification,
)
from tests.fakes import T0, RecordingReceiver

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
NOW = T0 + timedelta(minutes=3)


def config(url: str = "http://127.0.0.1:1/", **options: Any) -> PagerDutyReceiverConfig:
    return PagerDutyReceiverConfig.model_validate(
        {"kind": "pagerduty", "name": "pd", "routing_key": ROUTING_KEY, "url": url, **options}
    )


def send(receiver_url: str, status: str = "firing", **kw: Any) -> None:
    message = notification(status, **kw)
    PagerDutyNotifier(config(receiver_url)).send(
        message.idempotency_key, message.event, body_of(message), NOW
    )


def failure(receiver: RecordingReceiver, status: int, **headers: str) -> NotifierError:
    receiver.status = status
    receiver.headers = headers
    with pytest.raises(NotifierError) as caught:
        send(receiver.url)
    assert_no_secret_in_error(caught.value, ROUTING_KEY)
    return caught.value


class TestRenderEvents:
    def test_firing_alert_triggers(self) -> None:
        """A firing alert is a trigger with the full payload, keyed by its fingerprint."""
        message = notification()
        alert = message.payload["alerts"][0]
        (event,) = render_events(dict(message.payload), config())
        assert event == {
            "event_action": "trigger",
            "dedup_key": alert["fingerprint"],
            "client": "backlog-monitor",
            "client_url": "http://monitor.example.com:9464",
            "links": [
                {"href": "https://runbooks.example.com/backlog-high", "text": "Runbook"},
                {
                    "href": "https://grafana.example.com/d/backlog?var-queue=billing",
                    "text": "Dashboard",
                },
                {"href": "http://monitor.example.com:9464", "text": "Source"},
            ],
            "payload": {
                "summary": "billing has 612 open tickets (limit 500)",
                "source": "backlog-monitor",
                "severity": "critical",
                "timestamp": "2016-03-21T12:00:00Z",
                "component": "billing",
                "group": "zendesk",
                "class": "BacklogHigh",
                "custom_details": {
                    "values": {"fired": 612.0, "current": 612.0},
                    "labels": LABELS,
                    "state_reason": "above threshold",
                    "description": "Backlog of billing above 500 <for real> & growing",
                },
            },
        }

    def test_resolved_alert_resolves_the_same_incident(self) -> None:
        """The resolve carries the trigger's dedup_key, so PagerDuty pairs them."""
        (trigger,) = render_events(dict(notification().payload), config())
        (resolve,) = render_events(dict(notification("resolved").payload), config())
        assert resolve["event_action"] == "resolve"
        assert resolve["dedup_key"] == trigger["dedup_key"]
        assert resolve["payload"]["timestamp"] == "2016-03-21T13:00:00Z"

    def test_summary_is_clipped_to_1024_characters(self) -> None:
        """PagerDuty rejects summaries over 1024 characters; ours are cut with an ellipsis."""
        payload = dict(notification().payload)
        alert = {**payload["alerts"][0], "annotations": {"summary": "y" * 2000}}
        (event,) = render_events({**payload, "alerts": [alert]}, config())
        assert len(event["payload"]["summary"]) == 1024
        assert event["payload"]["summary"].endswith("…")

    @pytest.mark.parametrize(
        ("label", "expected"),
        [
            ("critical", "critical"),
            ("page", "critical"),
            ("error", "error"),
            ("Warning", "warning"),
            ("warn", "warning"),
            ("info", "info"),
            ("bogus", "error"),
            (None, "error"),
        ],
    )
    def test_severity_label_maps_to_pagerduty(self, label: str | None, expected: str) -> None:
        """severity maps onto critical/error/warning/info; unknown values use the default."""
        assert severity(label, "error") == expected

    def test_default_severity_is_configurable(self) -> None:
        """default_severity applies when the label is missing."""
        payload = dict(notification().payload)
        labels = {k: v for k, v in LABELS.items() if k != "severity"}
        alert = {**payload["alerts"][0], "labels": labels}
        (event,) = render_events({**payload, "alerts": [alert]}, config(default_severity="warning"))
        assert event["payload"]["severity"] == "warning"


class TestPagerDutyErrors:
    def test_explanation_is_kept(self) -> None:
        """PagerDuty's message and errors of a 400 end up in the error message."""
        text = json.dumps(
            {"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]}
        )
        assert pagerduty_error(400, text) == "Event object is invalid; x"

    def test_non_json_answer_is_ignored(self) -> None:
        """An HTML error page adds nothing to the message."""
        assert pagerduty_error(502, "<html>bad gateway</html>") == ""

    def test_echoed_routing_key_is_masked(self) -> None:
        """Should PagerDuty echo the routing key, it is masked before reaching the error."""
        text = json.dumps({"message": "bad", "errors": [f"routing_key {ROUTING_KEY} invalid"]})
        detail = redact(pagerduty_error(400, text), ROUTING_KEY)
        assert detail == "bad; routing_key *** invalid"
        assert_no_secret_in_error(NotifierError(detail, retryable=False), ROUTING_KEY)


class TestPagerDutyNotifier:
    def test_posts_the_event_with_the_routing_key(self, receiver: RecordingReceiver) -> None:
        """The body is the Events v2 event with routing_key added."""
        receiver.status = 202
        send(receiver.url)
        (got,) = receiver.received
        assert got.headers["Content-Type"] == "application/json"
        body = got.json
        assert body.pop("routing_key") == ROUTING_KEY
        assert body == render_events(dict(notification().payload), config())[0]

    def test_trigger_and_resolve_pair_up(self, receiver: RecordingReceiver) -> None:
        """A firing then a resolved notification send trigger then resolve with one dedup_key."""
        receiver.status = 202
        send(receiver.url, "firing")
        send(receiver.url, "resolved")
        trigger, resolve = (r.json for r in receiver.received)
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert trigger["dedup_key"] == resolve["dedup_key"]

    def test_bad_request_is_final(self, receiver: RecordingReceiver) -> None:
        """400 (an invalid event) must not be retried."""
        error = failure(receiver, 400)
        assert not error.retryable
        assert error.status == 400

    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    def test_throttling_and_server_errors_are_retryable(
        self, receiver: RecordingReceiver, status: int
    ) -> None:
        """429 and 5xx are retried."""
        assert failure(receiver, status).retryable

    def test_retry_after_is_honoured(self, receiver: RecordingReceiver) -> None:
        """A 429's Retry-After becomes the error's retry_after."""
        assert failure(receiver, 429, **{"Retry-After": "12"}).retry_after == 12.0

    def test_network_error_is_retryable(self) -> None:
        """A refused connection is retryable and does not name the routing key."""
        with pytest.raises(NotifierError) as caught:
            send(closed_url())
        assert caught.value.retryable
        assert_no_secret_in_error(caught.value, ROUTING_KEY)

    def test_routing_key_is_required(self) -> None:
        """A PagerDuty receiver needs routing_key or routing_key_file."""
        with pytest.raises(ValidationError, match="routing_key"):
            PagerDutyReceiverConfig.model_validate({"kind": "pagerduty", "name": "pd"})

    def test_routing_key_from_a_file(self, receiver: RecordingReceiver, tmp_path: Any) -> None:
        """routing_key_file is read at load time."""
        path = tmp_path / "pd-key"
        path.write_text(ROUTING_KEY + "\n")
        loaded = PagerDutyReceiverConfig.model_validate(
            {"kind": "pagerduty", "name": "pd", "routing_key_file": path, "url": receiver.url}
        )
        message = notification()
        PagerDutyNotifier(loaded).send(
            message.idempotency_key, message.event, body_of(message), NOW
        )
        assert json.loads(receiver.received[0].body)["routing_key"] == ROUTING_KEY

    def test_defaults_to_the_events_api(self) -> None:
        """Without url the events go to PagerDuty's Events API v2."""
        loaded = PagerDutyReceiverConfig.model_validate(
            {"kind": "pagerduty", "name": "pd", "routing_key": ROUTING_KEY}
        )
        assert str(loaded.url) == "https://events.pagerduty.com/v2/enqueue"
