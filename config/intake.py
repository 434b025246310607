"""Webhook intake endpoints (``http.intake``): a store pushes, the daemon polls early.

One entry per source that can push (Help Scout and GitHub webhooks). The endpoint is
``POST /intake/<source>``; it is served without an API token (the store cannot send one)
and is authenticated by the store's signature over the raw body instead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from config.durations import Duration
from config.secrets import resolve_credential

MAX_BODY_LIMIT = 25 * 1024 * 1024
"""GitHub caps a webhook payload at 25 MB; nothing a store sends is larger."""


class IntakeSettings(BaseModel):
    """One source's webhook intake."""

    # hide_input_in_errors: a validation error must not echo the secret it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    source: str = Field(description="the name of a helpscout or github source")
    secret: SecretStr | None = Field(None, description="the webhook's secret key")
    secret_file: Path | None = None
    secret_env: str | None = None
    max_body: int = Field(
        1024 * 1024, ge=1, le=MAX_BODY_LIMIT, description="larger bodies are refused (413)"
    )
    delay: Duration = Field(
        timedelta(seconds=5),
        description="wait after an event before polling, so a burst of events is one poll",
    )
    min_gap: Duration = Field(
        timedelta(seconds=60), description="least time between two early polls of the source"
    )
    replay_window: Duration = Field(
        timedelta(hours=1), description="how long a delivery is remembered to refuse replays"
    )

    @model_validator(mode="after")
    def _secret(self) -> IntakeSettings:
        value = resolve_credential(
            self.secret, self.secret_file, self.secret_env, "secret", required=True
        )
        if value is None or not value.get_secret_value():
            raise ValueError("the webhook secret is empty")
        object.__setattr__(self, "secret", value)
        object.__setattr__(self, "secret_file", None)
        object.__setattr__(self, "secret_env", None)
        return self

    @property
    def path(self) -> str:
        """Where the endpoint is served."""
        return f"/intake/{self.source}"

    def key(self) -> bytes:
        """The secret's bytes (never log them)."""
        assert self.secret is not None  # resolved by the validator
        return self.secret.get_secret_value().encode("utf-8")
