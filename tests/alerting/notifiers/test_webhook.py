"""The generic webhook notifier: Standard Webhooks signing, CloudEvents format, status mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from alerting.notifiers.webhook import WebhookNotifier, WebhookReceiverConfig, render_cloudevent
from monitor.errors import NotifierError
from tests.alerting.notifiers.conftest import (
    WEBHOOK_SECRET,
    assert_no_secret_in_error,
    body_of,
    closed_url,
    notification,
)
from tests.fakes import T0, RecordingReceiver

NOW = T0 + timedelta(minutes=3)


def notifier(url: str, **options: Any) -> WebhookNotifier:
    config = WebhookReceiverConfig.model_validate(
        {"kind": "webhook", "name": "ops", "url": url, "secret": WEBHOOK_SECRET, **options}
    )
    return WebhookNotifier(config)


def send_failing(receiver: RecordingReceiver, status: int, **headers: str) -> NotifierError:
    receiver.status = status
    receiver.headers = headers
    message = notification()
    with pytest.raises(NotifierError) as caught:
        notifier(receiver.url).send(message.idempotency_key, message.event, body_of(message), NOW)
    assert_no_secret_in_error(caught.value, WEBHOOK_SECRET)
    return caught.value


class TestAlertmanagerFormat:
    def test_posts_the_notification_unchanged(self, receiver: RecordingReceiver) -> None:
        """The default format POSTs the outbox bytes as they are, as application/json."""
        message = notification()
        notifier(receiver.url).send(message.idempotency_key, message.event, body_of(message), NOW)
        (got,) = receiver.received
        assert got.body == body_of(message)
        assert got.headers["Content-Type"] == "application/json"
        assert (
            got.headers["webhook-id"] == got.headers["Idempotency-Key"] == message.idempotency_key
        )
        assert got.headers["X-Backlog-Event"] == "alert.firing"

    def test_signature_verifies_with_standardwebhooks(self, receiver: RecordingReceiver) -> None:
        """The standardwebhooks library accepts the signature and returns the notification."""
        message = notification()
        now = datetime.now(UTC)
        notifier(receiver.url).send(message.idempotency_key, message.event, body_of(message), now)
        (got,) = receiver.received
        assert got.headers["webhook-timestamp"] == str(int(now.timestamp()))
        assert Webhook(WEBHOOK_SECRET).verify(got.body, got.headers) == message.payload


class TestCloudEventsFormat:
    def test_wraps_the_notification_in_a_structured_cloudevent(
        self, receiver: RecordingReceiver
    ) -> None:
        """format: cloudevents sends a CloudEvent 1.0 whose data is the notification."""
        message = notification()
        hook = notifier(receiver.url, format="cloudevents", source="/backlog-monitor/eu")
        hook.send(message.idempotency_key, message.event, body_of(message), NOW)
        (got,) = receiver.received
        assert got.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
        assert got.json == {
            "specversion": "1.0",
            "id": message.idempotency_key,
            "source": "/backlog-monitor/eu",
            "type": "io.backlog-monitor.alert.firing",
            "time": "2016-03-21T12:00:00Z",
            "subject": "billing",
            "datacontenttype": "application/json",
            "data": message.payload,
        }

    def test_resolved_event_is_timed_at_the_resolve(self) -> None:
        """A resolved notification becomes alert.resolved, timed when the alert resolved."""
        message = notification("resolved", resolved_at=T0 + timedelta(minutes=42))
        event = json.loads(render_cloudevent("k", message.event, body_of(message), "bm", NOW))
        assert event["type"] == "io.backlog-monitor.alert.resolved"
        assert event["time"] == "2016-03-21T12:42:00Z"
        assert event["source"] == "bm"

    def test_retries_send_identical_events(self) -> None:
        """Two attempts at different times render the same bytes (the same event, by id)."""
        message = notification()
        first = render_cloudevent("msg_1", message.event, body_of(message), "bm", NOW)
        later = render_cloudevent(
            "msg_1", message.event, body_of(message), "bm", NOW + timedelta(hours=1)
        )
        assert first == later

    def test_signature_covers_the_cloudevent(self, receiver: RecordingReceiver) -> None:
        """Standard Webhooks signing is unchanged: it verifies over the CloudEvent bytes."""
        message = notification()
        hook = notifier(receiver.url, format="cloudevents")
        hook.send(message.idempotency_key, message.event, body_of(message), datetime.now(UTC))
        (got,) = receiver.received
        event = Webhook(WEBHOOK_SECRET).verify(got.body, got.headers)
        assert event["source"] == "backlog-monitor"
        assert event["data"] == message.payload

    def test_rejects_an_unknown_format(self) -> None:
        """Only alertmanager and cloudevents are formats."""
        with pytest.raises(ValidationError, match="format"):
            notifier("http://127.0.0.1:1/", format="xml")


class TestWebhookErrors:
    @pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
    def test_server_errors_and_throttling_are_retryable(
        self, receiver: RecordingReceiver, status: int
    ) -> None:
        """5xx, 408 and 429 may succeed later."""
        error = send_failing(receiver, status)
        assert error.retryable
        assert error.status == status

    @pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
    def test_other_codes_are_final(self, receiver: RecordingReceiver, status: int) -> None:
        """Redirects and other 4xx are not retried."""
        error = send_failing(receiver, status)
        assert not error.retryable

    def test_retry_after_is_honoured(self, receiver: RecordingReceiver) -> None:
        """A 429 carries the seconds of its Retry-After header."""
        assert send_failing(receiver, 429, **{"Retry-After": "17"}).retry_after == 17.0

    def test_malformed_secret_is_not_echoed(self) -> None:
        """A secret that is not whsec_<base64> fails validation without showing it."""
        bad = "whsec_not*base64*but*secret"
        with pytest.raises(ValidationError) as caught:
            notifier("http://127.0.0.1:1/", secret=bad)
        assert_no_secret_in_error(caught.value, bad)

    def test_network_error_is_retryable(self) -> None:
        """A refused connection is retryable and names no secret."""
        message = notification()
        with pytest.raises(NotifierError) as caught:
            notifier(closed_url()).send(
                message.idempotency_key, message.event, body_of(message), NOW
            )
        assert caught.value.retryable
        assert caught.value.status is None
        assert_no_secret_in_error(caught.value, WEBHOOK_SECRET)
