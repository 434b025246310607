"""PagerDuty Events API v2: ``trigger`` while an alert fires, ``resolve`` once it resolved.

``dedup_key`` is the alert's fingerprint, so the resolve closes the incident its trigger
opened, and a retried trigger is folded into the same incident. One event is sent per
alert. 202 is success; 400 (an invalid event) is final; 429, 5xx and network errors are
retryable.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from alerting.notifiers.webhook import ZERO_TIME, check_response, post
from config.durations import Duration
from config.secrets import resolve_secret

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: dict[str, Severity] = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "error": "error",
    "err": "error",
    "high": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
"""``severity`` label values and the PagerDuty severity each maps to."""
LINKS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


class PagerDutyReceiverConfig(BaseModel):
    """A PagerDuty service integration (``kind: pagerduty``)."""

    # hide_input_in_errors: a validation error must not echo a secret it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["pagerduty"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    routing_key: SecretStr | None = Field(None, description="The integration key (32 chars)")
    routing_key_file: Path | None = None
    url: HttpUrl = Field(HttpUrl(EVENTS_URL), description="Overridable for tests and proxies")
    source: str = Field("backlog-monitor", min_length=1, description="payload.source")
    default_severity: Severity = Field("error", description="When the severity label is unknown")
    timeout: Duration = timedelta(seconds=15)

    @model_validator(mode="after")
    def _routing_key(self) -> PagerDutyReceiverConfig:
        key = resolve_secret(self.routing_key, self.routing_key_file, "routing_key", required=True)
        object.__setattr__(self, "routing_key", key)
        object.__setattr__(self, "routing_key_file", None)
        return self


class PagerDutyNotifier:
    """Opens and resolves PagerDuty incidents, one per alert fingerprint."""

    kind: ClassVar[str] = "pagerduty"
    config_model: ClassVar[type[BaseModel]] = PagerDutyReceiverConfig

    def __init__(self, config: PagerDutyReceiverConfig, session: requests.Session | None = None):
        if config.routing_key is None:
            raise ValueError("pagerduty receiver needs a routing_key")
        self.config = config
        self._routing_key = config.routing_key
        self._session = session or requests.Session()

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        secret = self._routing_key.get_secret_value()
        headers = {"Content-Type": "application/json", "User-Agent": "backlog-monitor"}
        for pd_event in render_events(json.loads(body), self.config):
            data = json.dumps({"routing_key": secret, **pd_event}, separators=(",", ":")).encode()
            response = post(self._session, str(self.config.url), data, headers, self.config.timeout)
            detail = redact(pagerduty_error(response.status_code, response.text), secret)
            check_response(response.status_code, response.headers.get("Retry-After"), now, detail)


def render_events(payload: dict[str, Any], config: PagerDutyReceiverConfig) -> list[dict[str, Any]]:
    """One Events v2 event per alert, without the routing key (added when sending)."""
    external_url = str(payload.get("externalURL") or "")
    events = []
    for alert in payload.get("alerts", []):
        resolved = alert.get("status") == "resolved"
        event: dict[str, Any] = {
            "event_action": "resolve" if resolved else "trigger",
            "dedup_key": str(alert.get("fingerprint", "")),
            "payload": render_payload(alert, config),
            "client": "backlog-monitor",
        }
        if external_url:
            event["client_url"] = external_url
        links = alert_links(alert)
        if links:
            event["links"] = links
        events.append(event)
    return events


def render_payload(alert: dict[str, Any], config: PagerDutyReceiverConfig) -> dict[str, Any]:
    """The event's ``payload``: summary, source, severity, timestamp, component, group, class."""
    labels: dict[str, Any] = alert.get("labels", {})
    annotations: dict[str, Any] = alert.get("annotations", {})
    alertname = str(labels.get("alertname", ""))
    queue = str(labels.get("queue", ""))
    summary = str(annotations.get("summary") or f"{alertname} on {queue}".strip())
    details: dict[str, Any] = {
        "values": alert.get("values", {}),
        "labels": labels,
        "state_reason": alert.get("stateReason"),
    }
    if annotations.get("description"):
        details["description"] = annotations["description"]
    rendered: dict[str, Any] = {
        "summary": clip(summary or "backlog alert", SUMMARY_LIMIT),
        "source": config.source,
        "severity": severity(labels.get("severity"), config.default_severity),
    }
    when = alert.get("endsAt" if alert.get("status") == "resolved" else "startsAt")
    if when and when != ZERO_TIME:
        rendered["timestamp"] = when
    for field, value in (
        ("component", queue),
        ("group", labels.get("source")),
        ("class", alertname),
    ):
        if value:
            rendered[field] = str(value)
    rendered["custom_details"] = details
    return rendered


def severity(label: Any, default: Severity) -> Severity:
    """PagerDuty's severity for a ``severity`` label value (case-insensitive)."""
    return SEVERITIES.get(str(label).strip().lower(), default) if label else default


def alert_links(alert: dict[str, Any]) -> list[dict[str, str]]:
    """Runbook, dashboard and generator links of an alert, as PagerDuty ``links``."""
    annotations = alert.get("annotations", {})
    links = [{"href": str(annotations[k]), "text": text} for k, text in LINKS if annotations.get(k)]
    if alert.get("generatorURL"):
        links.append({"href": str(alert["generatorURL"]), "text": "Source"})
    return links


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (PagerDuty counts characters), with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pagerduty_error(status: int, text: str) -> str:
    """PagerDuty's explanation of a refusal (``message`` and ``errors`` of its JSON), if any."""
    if 200 <= status < 300:
        return ""
    try:
        answer = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    parts = [str(answer.get("message") or "")]
    errors = answer.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors]
    return "; ".join(p for p in parts if p)[:300]


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    return text.replace(secret, "***") if secret else text
