"""Settings every hosted source has, and the cost of one poll against the plan's limits.

Each store's configuration model extends :class:`HostedSourceConfig` and says what one
poll costs (:meth:`HostedSourceConfig.poll_cost`). At start-up (and ``check-config``) a
poll rate over the share of the plan given to this daemon is an error naming its path;
above ``warn_at`` of it, a warning.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from config.durations import Duration, format_duration
from config.secrets import resolve_credential


@dataclass(frozen=True)
class PollCost:
    """What one poll sends: requests, and the credits they use (stores that price calls)."""

    requests: int
    credits: int


def listing_pages(changes: float, page: int, restart_every: int | None = None) -> int:
    """Pages a changed-since listing reads for ``changes`` tickets, at most.

    The listing is paged until a short page: ``changes // page + 1`` pages (a last empty
    page when ``changes`` fills whole pages). A listing whose offset is capped restarts
    after ``restart_every`` tickets from the last one seen and may read one page more per
    restart.
    """
    n = max(0, math.ceil(changes))
    pages = n // page + 1
    if restart_every:
        pages += n // restart_every
    return pages


def peak_changes_field(what: str, default: float) -> Any:
    """The ``peak_changes_per_minute`` field of a store with a changed-since listing."""
    return Field(
        default,
        ge=0,
        description=f"the most {what} a minute at the store's peak: the listing's pages "
        "in the configuration's cost estimate (an upper bound when this is)",
    )


class PlanBudget(BaseModel):
    """The store plan's published limits and the share of them this daemon may use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(None, ge=1, description="the plan's limit")
    daily_credits: int | None = Field(None, ge=1, description="the plan's credits per day")
    share: float = Field(
        0.5, gt=0, le=1, description="fraction of the plan this daemon may use (others share it)"
    )
    warn_at: float = Field(0.8, gt=0, le=1, description="warn above this fraction of the share")

    def per_minute(self) -> int | None:
        """Requests per minute this daemon allows itself."""
        if self.requests_per_minute is None:
            return None
        return max(1, math.floor(self.requests_per_minute * self.share))

    def per_day(self) -> int | None:
        """Credits per day this daemon allows itself."""
        if self.daily_credits is None:
            return None
        return max(1, math.floor(self.daily_credits * self.share))


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name (the store user's zone, in which its API writes dates)."""


class NumberedQueue(BaseModel):
    """A queue the store knows by a number (a Zendesk or Freshdesk group): id and name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=1)
    name: str


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP Basic authentication (a secret)."""
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def bearer_auth(token: str) -> dict[str, str]:
    """The ``Authorization`` header of a bearer token (a secret)."""
    return {"Authorization": f"Bearer {token}"}


class HostedSourceConfig(BaseModel):
    """What every hosted source has; each store's model adds its own fields and ``kind``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    interval: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(seconds=30)
    first_window: Duration = Field(
        timedelta(hours=1), description="how far back the very first poll counts throughput"
    )
    retries: int = Field(3, ge=0, le=10, description="attempts after the first on 5xx/timeouts")
    max_wait: Duration = Field(
        timedelta(seconds=30),
        description="longest wait inside one poll (Retry-After, budget); longer fails the poll",
    )
    budget: PlanBudget = PlanBudget()

    def poll_cost(self) -> PollCost:
        """Requests and credits of one poll (each store's model says)."""
        raise NotImplementedError

    def api_root(self) -> str:
        """Where the store's API is (each store's model says)."""
        raise NotImplementedError

    def records_first_assignment(self) -> bool:
        """Whether a poll gives the time to first assignment (routing rules on it are
        checked against it at start-up); the stores that read it say so."""
        return False

    def auth_headers(self) -> dict[str, str]:
        """The headers carrying the credentials (a secret: never log them)."""
        raise NotImplementedError

    def take_credentials(self, *fields: str, required: bool) -> None:
        """Resolve each credential from ``field``, ``field_file`` or ``field_env``
        (``config.secrets``) into ``field``; only the secret itself is kept."""
        for field in fields:
            value = resolve_credential(
                getattr(self, field),
                getattr(self, f"{field}_file"),
                getattr(self, f"{field}_env"),
                field,
                required=required,
            )
            object.__setattr__(self, field, value)
            object.__setattr__(self, f"{field}_file", None)
            object.__setattr__(self, f"{field}_env", None)

    def budget_use(self) -> list[tuple[str, float, float]]:
        """``(what, used, allowed)`` per limit: requests per minute, credits per day."""
        cost = self.poll_cost()
        polls_per_minute = 60.0 / max(1.0, self.interval.total_seconds())
        out = []
        minute = self.budget.per_minute()
        if minute is not None:
            out.append(("requests per minute", cost.requests * polls_per_minute, float(minute)))
        day = self.budget.per_day()
        if day is not None:
            out.append(("credits per day", cost.credits * polls_per_minute * 1440, float(day)))
        return out

    def budget_warnings(self) -> list[str]:
        """Limits this source's polling comes close to (above ``warn_at`` of its share)."""
        return [
            f"polling uses {used:.0f} {what} of the {allowed:.0f} allowed "
            f"({used / allowed:.0%}); raise interval or budget.share"
            for what, used, allowed in self.budget_use()
            if used > self.budget.warn_at * allowed
        ]

    @model_validator(mode="after")
    def _within_budget(self) -> HostedSourceConfig:
        over = [
            f"{what}: a poll every {format_duration(self.interval)} uses {used:.0f}, over the "
            f"{allowed:.0f} this daemon may use (budget.share {self.budget.share:g} of the "
            "plan); raise interval"
            for what, used, allowed in self.budget_use()
            if used > allowed
        ]
        if over:
            raise ValueError("; ".join(over))
        return self


def budget_warnings(sources: Sequence[object]) -> list[tuple[str, str]]:
    """``(path, message)`` for each hosted source whose polling comes close to its budget."""
    return [
        (f"sources -> {i} -> interval", message)
        for i, source in enumerate(sources)
        if isinstance(source, HostedSourceConfig)
        for message in source.budget_warnings()
    ]


def burst_error(config: HostedSourceConfig) -> str | None:
    """Why a poll larger than a minute's allowance would always fail, or None.

    The budget is a sliding minute: such a poll waits up to 60 s for it to slide, so
    ``max_wait`` must allow that (then the poll spreads over minutes).
    """
    minute = config.budget.per_minute()
    calls = config.poll_cost().requests
    if minute is None or calls <= minute or config.max_wait >= timedelta(seconds=60):
        return None
    return (
        f"a poll sends {calls} requests, more than the {minute} a minute this daemon may "
        "use: give max_wait 60s or more (the poll then spreads over minutes), or poll less"
    )
