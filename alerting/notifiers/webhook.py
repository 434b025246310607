"""Generic webhook: POSTs the JSON notification, signed per Standard Webhooks when a secret is set.

Headers: ``webhook-id`` (the idempotency key, the same on every retry),
``webhook-timestamp`` (unix seconds of this attempt), ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), and ``Idempotency-Key``.

With ``format: cloudevents`` the body is a CloudEvents 1.0 event in structured mode
(``application/cloudevents+json``) whose ``data`` is the notification; the signature
covers the bytes actually sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from alerting.destinations import DestinationRefused
from config.durations import Duration
from config.secrets import resolve_secret
from monitor.errors import NotifierError

RETRYABLE_4XX = frozenset({408, 425, 429})
ZERO_TIME = "0001-01-01T00:00:00Z"
CLOUDEVENTS_TYPE_PREFIX = "io.backlog-monitor."


class WebhookReceiverConfig(BaseModel):
    """A receiver that gets each notification as an HTTP POST (``kind: webhook``)."""

    # hide_input_in_errors: a validation error must not echo a secret it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["webhook"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    url: HttpUrl
    secret: SecretStr | None = Field(None, description="Standard Webhooks secret, whsec_...")
    secret_file: Path | None = None
    timeout: Duration = timedelta(seconds=15)
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra request headers (secret: they may authorise)"
    )
    format: Literal["alertmanager", "cloudevents"] = Field(
        "alertmanager",
        description="alertmanager: the notification as is; cloudevents: wrapped in a CloudEvent",
    )
    source: str = Field(
        "backlog-monitor", min_length=1, description="The CloudEvents source (format: cloudevents)"
    )

    @model_validator(mode="after")
    def _secret(self) -> WebhookReceiverConfig:
        secret = resolve_secret(self.secret, self.secret_file, "secret", required=False)
        if secret is not None:
            signing_key(secret)  # fails early on a malformed secret
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "secret_file", None)
        return self


def signing_key(secret: SecretStr) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (Standard Webhooks)."""
    text = secret.get_secret_value()
    body = text.removeprefix("whsec_")
    try:
        key = base64.b64decode(body, validate=True)
    except ValueError:
        raise ValueError("secret must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("secret must decode to 24-64 bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``id.timestamp.body``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookNotifier:
    """POSTs outbox messages to one URL."""

    kind: ClassVar[str] = "webhook"
    config_model: ClassVar[type[BaseModel]] = WebhookReceiverConfig

    def __init__(self, config: WebhookReceiverConfig, session: requests.Session | None = None):
        self.config = config
        self._session = session or requests.Session()
        self._key = signing_key(config.secret) if config.secret is not None else None

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        timestamp = int(now.timestamp())
        content_type = "application/json"
        if self.config.format == "cloudevents":
            body = render_cloudevent(key, event, body, self.config.source, now)
            content_type = "application/cloudevents+json; charset=utf-8"
        headers = {
            **{name: value.get_secret_value() for name, value in self.config.headers.items()},
            "Content-Type": content_type,
            "User-Agent": "backlog-monitor",
            "Idempotency-Key": key,
            "webhook-id": key,
            "webhook-timestamp": str(timestamp),
            "X-Backlog-Event": event,
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, key, timestamp, body)
        response = post(self._session, str(self.config.url), body, headers, self.config.timeout)
        check_response(response.status_code, response.headers.get("Retry-After"), now)


def render_cloudevent(key: str, event: str, body: bytes, source: str, now: datetime) -> bytes:
    """The notification as a structured-mode CloudEvent 1.0 (``application/cloudevents+json``).

    ``id`` is the idempotency key, so a retry is recognisably the same event (``source``
    plus ``id`` is unique); ``time`` is when the alert fired or resolved, not when this
    attempt happened, so every retry renders the same bytes.
    """
    payload: dict[str, Any] = json.loads(body)
    cloudevent: dict[str, Any] = {
        "specversion": "1.0",
        "id": key,
        "source": source,
        "type": CLOUDEVENTS_TYPE_PREFIX + event,
        "time": occurred_at(payload) or now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    queue = payload.get("commonLabels", {}).get("queue")
    if queue:
        cloudevent["subject"] = queue
    cloudevent["datacontenttype"] = "application/json"
    cloudevent["data"] = payload
    return json.dumps(cloudevent, separators=(",", ":")).encode()


def occurred_at(payload: dict[str, Any]) -> str | None:
    """When the first alert fired (``startsAt``) or, once resolved, resolved (``endsAt``)."""
    alerts = payload.get("alerts") or []
    if not alerts:
        return None
    field = "endsAt" if payload.get("status") == "resolved" else "startsAt"
    when = alerts[0].get(field)
    return when if isinstance(when, str) and when and when != ZERO_TIME else None


def post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: timedelta,
) -> requests.Response:
    """One POST without redirects; network failures become a retryable :class:`NotifierError`.

    The message names only the exception type, and the original exception is dropped:
    its text holds the URL, which may hold a token (Slack). A destination the allow-list
    refuses is final, with the reason (which names the host, never the URL).
    """
    retryable = True
    try:
        return session.post(
            url, data=body, headers=headers, timeout=timeout.total_seconds(), allow_redirects=False
        )
    except DestinationRefused as exc:
        failure, retryable = f"destination refused: {exc}", False
    except requests.RequestException as exc:
        failure = type(exc).__name__
    # Raised outside the handler so that not even ``__context__`` keeps the original.
    raise NotifierError(failure, retryable=retryable)


def check_response(status: int, retry_after: str | None, now: datetime, detail: str = "") -> None:
    """Only 2xx is success; 5xx, 408, 425 and 429 may be retried; other codes are final.

    Args:
        status: the HTTP status.
        retry_after: the ``Retry-After`` header, if any.
        now: the time of this attempt, for ``Retry-After`` dates.
        detail: what the receiver said, appended to the message (must hold no secret).
    """
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in RETRYABLE_4XX
    raise NotifierError(
        f"HTTP {status}: {detail}" if detail else f"HTTP {status}",
        retryable=retryable,
        retry_after=parse_retry_after(retry_after, now),
        status=status,
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())
