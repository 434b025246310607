"""Generic webhook: POSTs the JSON notification, signed per Standard Webhooks when a secret is set.

Headers: ``webhook-id`` (the idempotency key, the same on every retry),
``webhook-timestamp`` (unix seconds of this attempt), ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), and ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from config.durations import Duration
from config.secrets import resolve_secret
from monitor.errors import NotifierError

RETRYABLE_4XX = frozenset({408, 425, 429})


class WebhookReceiverConfig(BaseModel):
    """A receiver that gets each notification as an HTTP POST (``kind: webhook``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["webhook"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    url: HttpUrl
    secret: SecretStr | None = Field(None, description="Standard Webhooks secret, whsec_...")
    secret_file: Path | None = None
    timeout: Duration = timedelta(seconds=15)
    headers: dict[str, str] = Field(default_factory=dict)

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
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "User-Agent": "backlog-monitor",
            "Idempotency-Key": key,
            "webhook-id": key,
            "webhook-timestamp": str(timestamp),
            "X-Backlog-Event": event,
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, key, timestamp, body)
        try:
            response = self._session.post(
                str(self.config.url),
                data=body,
                headers=headers,
                timeout=self.config.timeout.total_seconds(),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise NotifierError(f"{type(exc).__name__}", retryable=True) from None
        check_response(response.status_code, response.headers.get("Retry-After"), now)


def check_response(status: int, retry_after: str | None, now: datetime) -> None:
    """Only 2xx is success; 5xx, 408, 425 and 429 may be retried; other codes are final."""
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in RETRYABLE_4XX
    raise NotifierError(
        f"HTTP {status}",
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
