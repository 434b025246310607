"""The Slack notifier: Block Kit rendering, the secret webhook URL, 429 with Retry-After."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.notifiers.slack import (
    SlackNotifier,
    SlackReceiverConfig,
    render_message,
    slack_error,
)
from monitor.errors import NotifierError
from tests.alerting.notifiers.conftest import (
    assert_no_secret_in_error,
    body_of,
    closed_url,
    notification,
)
from tests.fakes import T0, RecordingReceiver

TOKEN_PATH = "/services/T0123ABCD/B0456EFGH/xoxbSecretWebhookToken123"
NOW = T0 + timedelta(minutes=3)


def notifier(url: str, **options: Any) -> SlackNotifier:
    config = SlackReceiverConfig.model_validate(
        {"kind": "slack", "name": "chat", "url": url, **options}
    )
    return SlackNotifier(config)


def secret_url(receiver: RecordingReceiver) -> str:
    return receiver.url.removesuffix("/hook") + TOKEN_PATH


def failure(
    receiver: RecordingReceiver, status: int, text: str = "", **headers: str
) -> NotifierError:
    receiver.status = status
    receiver.headers = headers
    url = secret_url(receiver)
    message = notification()
    with pytest.raises(NotifierError) as caught:
        notifier(url).send(message.idempotency_key, message.event, body_of(message), NOW)
    assert_no_secret_in_error(caught.value, url)
    return caught.value


def blocks_of(kind: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


class TestRenderMessage:
    def test_header_names_status_and_alert(self) -> None:
        """The header shows the status emoji, FIRING and the alert name."""
        message = render_message(dict(notification().payload))
        (header,) = blocks_of("header", message)
        assert header["text"] == {
            "type": "plain_text",
            "text": ":rotating_light: FIRING: BacklogHigh",
            "emoji": True,
        }

    def test_resolved_header(self) -> None:
        """A resolved notification says RESOLVED with a check mark."""
        message = render_message(dict(notification("resolved").payload))
        assert blocks_of("header", message)[0]["text"]["text"] == (
            ":white_check_mark: RESOLVED: BacklogHigh"
        )

    def test_summary_and_escaped_description(self) -> None:
        """The summary is bold; &, < and > of the description are escaped for mrkdwn."""
        message = render_message(dict(notification().payload))
        summary = blocks_of("section", message)[0]["text"]["text"]
        assert summary == (
            "*billing has 612 open tickets (limit 500)*\n"
            "Backlog of billing above 500 &lt;for real&gt; &amp; growing"
        )

    def test_fields_show_queue_source_severity_and_values(self) -> None:
        """Queue, source, severity, the value that fired and the current value are fields."""
        message = render_message(dict(notification("resolved").payload))
        fields = [f["text"] for f in blocks_of("section", message)[1]["fields"]]
        assert fields == [
            "*Queue*\nbilling",
            "*Source*\nzendesk",
            "*Severity*\ncritical",
            "*Value fired*\n612",
            "*Value now*\n431",
        ]

    def test_context_links_runbook_and_dashboard(self) -> None:
        """runbook_url and dashboard_url annotations become links in a context block."""
        message = render_message(dict(notification().payload))
        (context,) = blocks_of("context", message)
        assert context["elements"][0]["text"] == (
            "<https://runbooks.example.com/backlog-high|Runbook>  •  "
            "<https://grafana.example.com/d/backlog?var-queue=billing|Dashboard>"
        )

    def test_no_links_no_context(self) -> None:
        """Without link annotations there is no context block."""
        payload = dict(notification().payload)
        payload["commonAnnotations"] = {"summary": "s"}
        assert blocks_of("context", render_message(payload)) == []

    def test_several_alerts_get_a_field_section_each(self) -> None:
        """A group of two alerts shows two field sections; an empty alert shows none."""
        payload = dict(notification().payload)
        payload["alerts"] = [payload["alerts"][0], payload["alerts"][0], {"labels": {}}]
        sections = [b for b in blocks_of("section", render_message(payload)) if "fields" in b]
        assert len(sections) == 2

    def test_text_fallback(self) -> None:
        """``text`` is the notification in one line for clients without blocks."""
        message = render_message(dict(notification().payload))
        assert message["text"] == "[FIRING] BacklogHigh: billing has 612 open tickets (limit 500)"

    def test_long_texts_are_clipped_to_slack_limits(self) -> None:
        """A 5,000 character description is cut to Slack's 3,000 with an ellipsis."""
        payload = dict(notification().payload)
        payload["commonAnnotations"] = {"summary": "s", "description": "x" * 5000}
        text = blocks_of("section", render_message(payload))[0]["text"]["text"]
        assert len(text) == 3000
        assert text.endswith("…")


class TestSlackError:
    def test_error_code_is_kept(self) -> None:
        """Slack's error code (invalid_payload...) goes into the error message."""
        assert slack_error("invalid_payload\n") == "invalid_payload"

    def test_anything_else_is_dropped(self) -> None:
        """Bodies that are not a bare error code are not echoed."""
        assert slack_error("<html>Service Unavailable</html>") == ""


class TestSlackNotifier:
    def test_posts_the_block_kit_message(self, receiver: RecordingReceiver) -> None:
        """The message goes to the secret URL as JSON."""
        receiver.status = 200
        message = notification()
        notifier(secret_url(receiver)).send(
            message.idempotency_key, message.event, body_of(message), NOW
        )
        (got,) = receiver.received
        assert got.headers["Content-Type"] == "application/json; charset=utf-8"
        assert got.json == render_message(dict(message.payload))

    def test_rate_limit_is_retryable_after_retry_after(self, receiver: RecordingReceiver) -> None:
        """429 is retryable after the seconds Slack asked for."""
        error = failure(receiver, 429, **{"Retry-After": "2"})
        assert error.retryable
        assert error.retry_after == 2.0

    @pytest.mark.parametrize("status", [500, 503])
    def test_server_errors_are_retryable(self, receiver: RecordingReceiver, status: int) -> None:
        """Slack's 5xx may succeed later."""
        assert failure(receiver, status).retryable

    @pytest.mark.parametrize("status", [400, 403, 404, 410])
    def test_client_errors_are_final(self, receiver: RecordingReceiver, status: int) -> None:
        """invalid_payload, action_prohibited, channel_not_found, channel_is_archived are final."""
        assert not failure(receiver, status).retryable

    def test_network_error_hides_the_url(self) -> None:
        """A refused connection is retryable and its message holds no part of the URL token."""
        url = closed_url(TOKEN_PATH)
        message = notification()
        with pytest.raises(NotifierError) as caught:
            notifier(url).send(message.idempotency_key, message.event, body_of(message), NOW)
        assert caught.value.retryable
        assert_no_secret_in_error(caught.value, url)

    def test_url_from_a_file(self, receiver: RecordingReceiver, tmp_path: Path) -> None:
        """url_file is read at load time."""
        path = tmp_path / "slack-url"
        path.write_text(secret_url(receiver) + "\n")
        config = SlackReceiverConfig.model_validate(
            {"kind": "slack", "name": "chat", "url_file": path}
        )
        message = notification()
        SlackNotifier(config).send(message.idempotency_key, message.event, body_of(message), NOW)
        assert len(receiver.received) == 1

    def test_min_interval_defaults_to_one_second(self) -> None:
        """Slack's one message a second is the default pacing for the dispatcher."""
        assert notifier("https://hooks.example.com/x").config.min_interval == timedelta(seconds=1)

    def test_invalid_url_is_rejected_without_echoing_it(self) -> None:
        """A URL that is not http(s) fails validation, and the error does not show it."""
        with pytest.raises(ValidationError) as caught:
            notifier("hooks.slack.com/services/T0/B0/notAUrlSecretToken")
        assert "notAUrlSecretToken" not in str(caught.value)
        assert_no_secret_in_error(caught.value, "hooks.slack.com/services/T0/B0/notAUrlSecretToken")

    def test_url_is_required(self) -> None:
        """A Slack receiver needs url or url_file."""
        with pytest.raises(ValidationError, match="url"):
            SlackReceiverConfig.model_validate({"kind": "slack", "name": "chat"})
