"""The ``report`` section: the period, the aged list's length, and where to send it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from config.durations import Duration
from config.secrets import resolve_secret


class SmtpDelivery(BaseModel):
    """E-mail through an SMTP server (``report.email``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    ca_file: Path | None = Field(None, description="CA bundle to trust (a private server's)")
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _password(self) -> SmtpDelivery:
        password = resolve_secret(self.password, self.password_file, "password", required=False)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "password_file", None)
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together (or neither)")
        return self


class ReportSettings(BaseModel):
    """``backlog-monitor report`` and its delivery."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    period: Duration = timedelta(days=7)
    aged_list: int = Field(20, ge=1, le=500, description="oldest open tickets listed")
    webhooks: tuple[str, ...] = Field((), description="webhook receivers to post it to")
    email: SmtpDelivery | None = None
    link: str | None = Field(
        None,
        description="where the HTML page is published (https://...); Slack shows this link",
        pattern=r"^https?://",
    )
    schedule: Literal["off", "weekly"] = Field(
        "off", description="weekly: the daemon sends it to the webhooks and e-mail once a week"
    )
    weekday: int = Field(0, ge=0, le=6, description="the scheduled period ends on (0 Monday)")
    hour: int = Field(8, ge=0, le=23, description="... at this hour (UTC)")
    source: str | None = Field(None, description="the scheduled report's source (the first)")

    @model_validator(mode="after")
    def _scheduled_somewhere(self) -> ReportSettings:
        if self.schedule != "off" and not self.webhooks and self.email is None:
            raise ValueError("a scheduled report needs webhooks or email to send it to")
        return self
