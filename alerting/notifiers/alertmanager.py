"""Alertmanager: pushes the notification's alerts to ``POST /api/v2/alerts``, like Prometheus.

Every alert goes out as ``{labels, annotations, startsAt, endsAt, generatorURL}``. A firing
alert's ``endsAt`` is ``now + resend_validity`` (Prometheus' ``ValidUntil``, 4 x the 1m
resend delay): Alertmanager resolves it by itself once that passes, so the daemon must
re-send firing alerts more often than that. A resolved alert's ``endsAt`` is its resolve time.

High availability: the alerts go to *every* configured Alertmanager (never through a load
balancer; the instances do not replicate alerts). As in Prometheus' notifier, the send
succeeds when at least one instance accepts; the instances that failed are logged and
catch up with the next re-send. Only when all fail is :class:`NotifierError` raised.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from alerting.notifiers.webhook import ZERO_TIME, check_response, post
from config.durations import Duration
from config.secrets import resolve_secret
from monitor.errors import NotifierError

PUSH_PATH = "/api/v2/alerts"


class AlertmanagerReceiverConfig(BaseModel):
    """Alertmanager instances that receive our alerts as a Prometheus would send them."""

    # hide_input_in_errors: a validation error must not echo a secret it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["alertmanager"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    urls: list[HttpUrl] = Field(
        min_length=1, description="Every Alertmanager of the cluster, e.g. http://am-0:9093"
    )
    resend_validity: Duration = Field(
        timedelta(minutes=4),
        description="How long a firing alert stays valid in Alertmanager without a re-send",
    )
    timeout: Duration = timedelta(seconds=15)
    bearer_token: SecretStr | None = Field(None, description="For an authenticating proxy")
    bearer_token_file: Path | None = None
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra request headers (secret: they may authorise)"
    )

    @model_validator(mode="after")
    def _token(self) -> AlertmanagerReceiverConfig:
        token = resolve_secret(
            self.bearer_token, self.bearer_token_file, "bearer_token", required=False
        )
        object.__setattr__(self, "bearer_token", token)
        object.__setattr__(self, "bearer_token_file", None)
        if self.resend_validity <= timedelta(0):
            raise ValueError("resend_validity must be positive")
        return self


class AlertmanagerNotifier:
    """Pushes alerts to every Alertmanager of a cluster."""

    kind: ClassVar[str] = "alertmanager"
    config_model: ClassVar[type[BaseModel]] = AlertmanagerReceiverConfig

    def __init__(
        self,
        config: AlertmanagerReceiverConfig,
        session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ):
        self.config = config
        self._session = session or requests.Session()
        self._log = logger or logging.getLogger(__name__)

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        alerts = render_alerts(json.loads(body), now, self.config.resend_validity)
        data = json.dumps(alerts, separators=(",", ":")).encode()
        headers = {
            **{name: value.get_secret_value() for name, value in self.config.headers.items()},
            "Content-Type": "application/json",
            "User-Agent": "backlog-monitor",
        }
        if self.config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.config.bearer_token.get_secret_value()}"
        failures: list[tuple[str, NotifierError]] = []
        for url in self.config.urls:
            try:
                response = post(self._session, push_url(url), data, headers, self.config.timeout)
                check_response(response.status_code, response.headers.get("Retry-After"), now)
            except NotifierError as err:
                failures.append((instance(url), err))
        if len(failures) == len(self.config.urls):
            raise combine(failures)
        for where, failure in failures:
            self._log.warning(
                "alertmanager %s rejected the alerts: %s (the others accepted)",
                where,
                failure,
                extra={"receiver": self.name, "alertmanager": where},
            )


def render_alerts(
    payload: dict[str, Any], now: datetime, validity: timedelta
) -> list[dict[str, Any]]:
    """The ``POST /api/v2/alerts`` body for a notification, sent at ``now``.

    Firing alerts end at ``now + validity``; resolved ones at their resolve time (``now``
    if the notification lacks it). ``startsAt`` is when the alert fired.
    """
    rendered = []
    for alert in payload.get("alerts", []):
        resolved = alert.get("status") == "resolved"
        ends = alert.get("endsAt") if resolved else None
        if not ends or ends == ZERO_TIME:
            ends = rfc3339(now if resolved else now + validity)
        item: dict[str, Any] = {
            "labels": {k: str(v) for k, v in alert.get("labels", {}).items()},
            "annotations": {k: str(v) for k, v in alert.get("annotations", {}).items()},
            "endsAt": ends,
            "generatorURL": alert.get("generatorURL", ""),
        }
        starts = alert.get("startsAt")
        if starts and starts != ZERO_TIME:
            item["startsAt"] = starts
        rendered.append(item)
    return rendered


def rfc3339(when: datetime) -> str:
    """UTC with a ``Z``, as Alertmanager writes it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def push_url(base: HttpUrl) -> str:
    """``{base}/api/v2/alerts``, keeping a path prefix (``--web.route-prefix``)."""
    return str(base).rstrip("/") + PUSH_PATH


def instance(url: HttpUrl) -> str:
    """``host:port`` of an Alertmanager, for messages (never the userinfo)."""
    parts = urlsplit(str(url))
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def combine(failures: list[tuple[str, NotifierError]]) -> NotifierError:
    """One error for a send every Alertmanager refused: retryable if any failure was."""
    retryable = any(err.retryable for _, err in failures)
    waits = [err.retry_after for _, err in failures if err.retry_after is not None]
    statuses = {err.status for _, err in failures}
    detail = "; ".join(f"{where}: {err}" for where, err in failures)
    return NotifierError(
        f"every Alertmanager failed ({detail})",
        retryable=retryable,
        retry_after=min(waits) if waits else None,
        status=statuses.pop() if len(statuses) == 1 else None,
    )
