"""Slack: posts a Block Kit message to an incoming webhook.

The webhook URL is the secret (its path holds the token), so it is given as ``url`` or
``url_file`` and never appears in errors. Slack accepts about one message per second per
webhook and answers 429 with ``Retry-After`` above that: ``min_interval`` tells the
dispatcher how far apart to send, and a 429 is retryable after the time Slack asked for.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from alerting.notifiers.webhook import check_response, post
from config.durations import Duration
from config.secrets import resolve_secret
from monitor.report.slack import REPORT_EVENT, render_report

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_ALERTS = 10
"""Alerts shown one by one; Slack allows 50 blocks a message."""

STATUS_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}
FIELDS = (("queue", "Queue"), ("source", "Source"), ("severity", "Severity"))
LINKS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))
SLACK_ERROR = re.compile(r"[a-z_]{1,64}")
"""Slack's error bodies (``invalid_payload``, ``no_text``...); anything else is not echoed."""


class SlackReceiverConfig(BaseModel):
    """A Slack incoming webhook (``kind: slack``)."""

    # hide_input_in_errors: a validation error must not echo a secret it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["slack"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    url: SecretStr | None = Field(None, description="https://hooks.slack.com/services/T../B../..")
    url_file: Path | None = None
    min_interval: Duration = Field(
        timedelta(seconds=1), description="Least time between two messages (Slack: ~1/s)"
    )
    timeout: Duration = timedelta(seconds=15)

    @model_validator(mode="after")
    def _url(self) -> SlackReceiverConfig:
        url = resolve_secret(self.url, self.url_file, "url", required=True)
        if url is None or not is_http_url(url):
            raise ValueError("url must be an http(s) URL")
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "url_file", None)
        return self


class SlackNotifier:
    """Posts notifications to a Slack channel through its incoming webhook."""

    kind: ClassVar[str] = "slack"
    config_model: ClassVar[type[BaseModel]] = SlackReceiverConfig

    def __init__(self, config: SlackReceiverConfig, session: requests.Session | None = None):
        if config.url is None:
            raise ValueError("slack receiver needs a url")
        self.config = config
        self._url = config.url
        self._session = session or requests.Session()

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        payload = json.loads(body)
        # the weekly report (monitor.report) travels the same outbox as alerts
        message = render_report(payload) if event == REPORT_EVENT else render_message(payload)
        data = json.dumps(message, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "backlog-monitor",
        }
        response = post(
            self._session, self._url.get_secret_value(), data, headers, self.config.timeout
        )
        check_response(
            response.status_code,
            response.headers.get("Retry-After"),
            now,
            slack_error(response.text),
        )


def is_http_url(url: SecretStr) -> bool:
    """Whether a secret URL is http(s), without revealing it."""
    return url.get_secret_value().startswith(("https://", "http://"))


def render_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit message of a notification: header, summary, fields, links, ``text``."""
    status = str(payload.get("status", "firing"))
    alerts = payload.get("alerts") or [{}]
    labels = payload.get("commonLabels") or alerts[0].get("labels", {})
    annotations = payload.get("commonAnnotations") or alerts[0].get("annotations", {})
    alertname = str(labels.get("alertname") or payload.get("groupLabels", {}).get("alertname", ""))
    title = f"{STATUS_EMOJI.get(status, '')} {status.upper()}: {alertname}".strip()
    summary = str(annotations.get("summary", ""))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(title, HEADER_LIMIT), "emoji": True},
        }
    ]
    description = str(annotations.get("description", ""))
    lines = [f"*{escape(summary)}*" if summary else "", escape(description)]
    if any(lines):
        text = "\n".join(line for line in lines if line)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, TEXT_LIMIT)}}
        )
    for alert in alerts[:MAX_ALERTS]:
        fields = alert_fields(alert)
        if fields:  # Slack rejects a section with an empty field list
            blocks.append({"type": "section", "fields": fields})
    if len(alerts) > MAX_ALERTS:
        more = f"and {len(alerts) - MAX_ALERTS} more alerts"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    links = [f"<{escape(str(annotations[k]))}|{label}>" for k, label in LINKS if annotations.get(k)]
    if links:
        link_text = "  •  ".join(links)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link_text}]})
    fallback = f"[{status.upper()}] {alertname}" + (f": {summary}" if summary else "")
    return {"text": clip(fallback, TEXT_LIMIT), "blocks": blocks}


def alert_fields(alert: dict[str, Any]) -> list[dict[str, str]]:
    """Queue, source, severity, the value that fired and the current value, as mrkdwn fields."""
    labels = alert.get("labels", {})
    values = alert.get("values", {})
    pairs = [(title, labels.get(name)) for name, title in FIELDS]
    pairs += [("Value fired", values.get("fired")), ("Value now", values.get("current"))]
    return [
        {"type": "mrkdwn", "text": clip(f"*{title}*\n{escape(number(value))}", FIELD_LIMIT)}
        for title, value in pairs
        if value is not None and value != ""
    ]


def number(value: Any) -> str:
    """``1234`` for whole floats, ``12.5`` otherwise; text as it is."""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    return str(value)


def escape(text: str) -> str:
    """Slack mrkdwn escaping: only ``&``, ``<`` and ``>`` are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_error(body: str) -> str:
    """Slack's error code from a response body, or nothing if it does not look like one."""
    body = body.strip()
    return body if SLACK_ERROR.fullmatch(body) and body != "ok" else ""
