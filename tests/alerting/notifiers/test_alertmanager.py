"""The Alertmanager notifier: rendering, HA fan-out, status mapping, and a real Alertmanager."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.notifiers.alertmanager import (
    AlertmanagerNotifier,
    AlertmanagerReceiverConfig,
    render_alerts,
)
from monitor.errors import NotifierError
from tests.alerting.notifiers.conftest import (
    RunningAlertmanager,
    assert_no_secret_in_error,
    body_of,
    closed_url,
    notification,
)
from tests.fakes import T0, RecordingReceiver
from tests.processes import eventually

TOKEN = "am-proxy-token-0123456789"
NOW = T0 + timedelta(minutes=3)


def notifier(*urls: str, **options: Any) -> AlertmanagerNotifier:
    config = AlertmanagerReceiverConfig.model_validate(
        {"kind": "alertmanager", "name": "am", "urls": list(urls), **options}
    )
    return AlertmanagerNotifier(config)


def push(
    hook: AlertmanagerNotifier, status: str = "firing", now: datetime = NOW, **kw: Any
) -> None:
    message = notification(status, **kw)
    hook.send(message.idempotency_key, message.event, body_of(message), now)


def failure(hook: AlertmanagerNotifier) -> NotifierError:
    with pytest.raises(NotifierError) as caught:
        push(hook)
    assert_no_secret_in_error(caught.value, TOKEN)
    return caught.value


class TestRenderAlerts:
    def test_firing_alert_is_valid_for_four_minutes(self) -> None:
        """A firing alert starts when it fired and ends at now + 4m, Prometheus' ValidUntil."""
        payload = notification().payload
        (alert,) = render_alerts(dict(payload), NOW, timedelta(minutes=4))
        assert alert == {
            "labels": payload["alerts"][0]["labels"],
            "annotations": payload["alerts"][0]["annotations"],
            "startsAt": "2016-03-21T12:00:00Z",
            "endsAt": "2016-03-21T12:07:00Z",
            "generatorURL": "http://monitor.example.com:9464",
        }

    def test_resolved_alert_ends_when_it_resolved(self) -> None:
        """A resolved alert's endsAt is its resolve time, not now."""
        payload = notification("resolved", resolved_at=T0 + timedelta(minutes=30)).payload
        (alert,) = render_alerts(dict(payload), T0 + timedelta(hours=2), timedelta(minutes=4))
        assert alert["endsAt"] == "2016-03-21T12:30:00Z"
        assert alert["startsAt"] == "2016-03-21T12:00:00Z"

    def test_validity_is_configurable(self) -> None:
        """resend_validity sets how far ahead a firing alert's endsAt lies."""
        hook = notifier("http://127.0.0.1:1", resend_validity="10m")
        payload = dict(notification().payload)
        (alert,) = render_alerts(payload, NOW, hook.config.resend_validity)
        assert alert["endsAt"] == "2016-03-21T12:13:00Z"

    def test_only_the_push_api_fields_are_sent(self) -> None:
        """Fingerprint, values and status stay out: Alertmanager's API takes five fields."""
        (alert,) = render_alerts(dict(notification().payload), NOW, timedelta(minutes=4))
        assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


class TestAlertmanagerNotifier:
    def test_posts_a_json_array_with_the_token(self, receiver: RecordingReceiver) -> None:
        """The body is the array of alerts; the bearer token goes in Authorization."""
        receiver.status = 200
        push(notifier(receiver.url, bearer_token=TOKEN))
        (got,) = receiver.received
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["Authorization"] == f"Bearer {TOKEN}"
        assert got.json == render_alerts(dict(notification().payload), NOW, timedelta(minutes=4))

    def test_pushes_to_every_alertmanager(
        self, receiver: RecordingReceiver, other_receiver: RecordingReceiver
    ) -> None:
        """Each instance of an HA cluster gets the alerts."""
        push(notifier(receiver.url, other_receiver.url))
        assert len(receiver.received) == len(other_receiver.received) == 1
        assert receiver.received[0].body == other_receiver.received[0].body

    def test_one_accepting_instance_is_enough(
        self,
        receiver: RecordingReceiver,
        other_receiver: RecordingReceiver,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """With one instance down the send succeeds and the failure is logged without secrets."""
        other_receiver.status = 503
        with caplog.at_level(logging.WARNING):
            push(notifier(other_receiver.url, receiver.url, bearer_token=TOKEN))
        assert len(receiver.received) == 1
        assert "HTTP 503" in caplog.text
        assert TOKEN not in caplog.text

    def test_all_instances_down_is_retryable(
        self, receiver: RecordingReceiver, other_receiver: RecordingReceiver
    ) -> None:
        """When every instance fails and one failure is retryable, the send is retried."""
        receiver.status = 400
        error = failure(notifier(receiver.url, closed_url(), bearer_token=TOKEN))
        assert error.retryable
        assert "HTTP 400" in str(error)
        assert "ConnectionError" in str(error)

    @pytest.mark.parametrize("status", [500, 502, 503, 429])
    def test_server_errors_are_retryable(self, receiver: RecordingReceiver, status: int) -> None:
        """5xx and 429 from Alertmanager may succeed later."""
        receiver.status = status
        error = failure(notifier(receiver.url, bearer_token=TOKEN))
        assert error.retryable
        assert error.status == status

    def test_bad_request_is_final(self, receiver: RecordingReceiver) -> None:
        """400 (an invalid alert) is not retried."""
        receiver.status = 400
        error = failure(notifier(receiver.url, bearer_token=TOKEN))
        assert not error.retryable
        assert error.status == 400

    def test_retry_after_is_honoured(self, receiver: RecordingReceiver) -> None:
        """A 429 with Retry-After tells when to come back."""
        receiver.status = 429
        receiver.headers = {"Retry-After": "30"}
        assert failure(notifier(receiver.url, bearer_token=TOKEN)).retry_after == 30.0

    def test_token_from_a_file(self, receiver: RecordingReceiver, tmp_path: Any) -> None:
        """bearer_token_file is read at load time and its content sent."""
        path = tmp_path / "token"
        path.write_text(TOKEN + "\n")
        push(notifier(receiver.url, bearer_token_file=str(path)))
        assert receiver.received[0].headers["Authorization"] == f"Bearer {TOKEN}"

    def test_needs_at_least_one_url(self) -> None:
        """An empty url list is a configuration error."""
        with pytest.raises(ValueError, match="urls"):
            notifier()


class TestAgainstRealAlertmanager:
    def test_firing_then_resolved(
        self, alertmanager: RunningAlertmanager, receiver: RecordingReceiver
    ) -> None:
        """Alertmanager lists the pushed alert, drops it once resolved, and notifies both."""
        now = datetime.now(UTC).replace(microsecond=0)
        hook = notifier(alertmanager.url)
        push(hook, "firing", now, fired_at=now - timedelta(minutes=1))

        (active,) = alertmanager.alerts()
        assert active["labels"] == notification().payload["alerts"][0]["labels"]
        assert active["annotations"]["summary"] == "billing has 612 open tickets (limit 500)"
        assert active["status"]["state"] == "active"
        ends = datetime.fromisoformat(active["endsAt"].replace("Z", "+00:00"))
        assert ends == now + timedelta(minutes=4)
        fired = eventually(
            lambda: [r.json for r in receiver.received if r.json["status"] == "firing"],
            "the firing notification",
        )
        assert fired[0]["alerts"][0]["labels"]["queue"] == "billing"

        push(
            hook,
            "resolved",
            now + timedelta(seconds=1),
            fired_at=now - timedelta(minutes=1),
            resolved_at=now,
        )
        assert alertmanager.alerts() == []
        resolved = eventually(
            lambda: [r.json for r in receiver.received if r.json["status"] == "resolved"],
            "the resolved notification",
        )
        assert resolved[0]["alerts"][0]["labels"]["alertname"] == "BacklogHigh"
        assert resolved[0]["alerts"][0]["endsAt"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))

    def test_invalid_alert_is_final(self, alertmanager: RunningAlertmanager) -> None:
        """Alertmanager's 400 for an alert without labels is a final error."""
        payload = dict(notification().payload)
        payload["alerts"] = [{**payload["alerts"][0], "labels": {}}]
        hook = notifier(alertmanager.url)
        with pytest.raises(NotifierError) as caught:
            hook.send("k", "alert.firing", json.dumps(payload).encode(), datetime.now(UTC))
        assert caught.value.status == 400
        assert not caught.value.retryable
