"""Udesk (``kind: udesk``): open tickets per queue and status through the account's filters.

Udesk has no count endpoint and no field filters in its API: tickets are read through
filters defined in Udesk's web console, and ``GET /open_api_v1/tickets/tickets_in_filter
?filter_id=F&page=1&per_page=1`` answers ``meta.total_count``, the number of tickets the
filter selects. So each queue is configured as one filter per open status ("user group is
X and status is open", "... is solving"): one request each per poll, exact counts.

Every request is signed: query parameters ``email``, ``timestamp`` (seconds),
``nonce`` (a fresh UUID per request, also per retry: Udesk refuses a nonce seen in the
last 15 minutes), ``sign_version=v2`` and ``sign = SHA-256("email&token&timestamp&nonce
&v2")``. The token comes from ``POST /open_api_v1/log_in`` with the account's email and
password (a secret), fetched at the first request and again when a request is refused
for it. Udesk allows 60 requests a minute per account: every Udesk source of the same
account (same API root and email) shares one budget in this process.

Created and resolved in the window, aging and the oldest ticket are not collected: the
API has no modified-since listing and Udesk's closing time is not documented; those
figures are absent (None), never 0.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import Budget, HostedSourceConfig, HttpClient, NoAuth, PlanBudget, PollCost
from collectors.hosted.config import burst_error
from collectors.hosted.past import refuse_past
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import AuthFailed, MappingError

__all__ = ["UdeskCollector", "UdeskConfig"]

OK = 1000
"""Udesk's ``code`` for a request that succeeded."""

_SHARED: dict[tuple[str, str], Budget] = {}
_SHARED_LOCK = threading.Lock()


class UdeskQueue(BaseModel):
    """One queue: a filter id per open status (created in Udesk's console, see the docs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    filters: dict[str, int] = Field(min_length=1, description="status label -> filter id")


class UdeskConfig(HostedSourceConfig):
    """A Udesk account (``kind: udesk``)."""

    kind: Literal["udesk"]
    subdomain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*(\.s2)?$")
    base_url: str | None = Field(None, description="instead of subdomain (a proxy, tests)")
    email: str = Field(description="the admin account the API token belongs to")
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    queues: list[UdeskQueue] = Field(min_length=1)
    budget: PlanBudget = PlanBudget(requests_per_minute=60)
    max_wait: Duration = Field(
        timedelta(seconds=60),
        description="longest wait inside one poll: a poll larger than a minute's allowance "
        "waits for the next minute",
    )

    @model_validator(mode="after")
    def _credentials(self) -> UdeskConfig:
        if (self.subdomain is None) == (self.base_url is None):
            raise ValueError("give exactly one of subdomain and base_url")
        secret = resolve_credential(
            self.password, self.password_file, self.password_env, "password", required=True
        )
        object.__setattr__(self, "password", secret)
        object.__setattr__(self, "password_file", None)
        object.__setattr__(self, "password_env", None)
        problem = burst_error(self)
        if problem is not None:
            raise ValueError(f"{problem}, or fewer filters")
        return self

    def poll_cost(self) -> PollCost:
        calls = sum(len(q.filters) for q in self.queues)
        return PollCost(calls, calls)

    def api_root(self) -> str:
        return self.base_url or f"https://{self.subdomain}.udesk.cn"


def shared_budget(config: UdeskConfig, clock: Callable[[], float]) -> Budget:
    """The one budget of every Udesk source of this account in this process."""
    key = (config.api_root(), config.email.lower())
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Budget(f"udesk:{config.email}", config.budget.per_minute(), None, clock)
        return _SHARED[key]


def sign(email: str, token: str, timestamp: str, nonce: str) -> str:
    """Udesk's v2 signature: SHA-256 over ``email&token&timestamp&nonce&v2``, hex."""
    return hashlib.sha256(f"{email}&{token}&{timestamp}&{nonce}&v2".encode()).hexdigest()


class UdeskLogin:
    """The API token from ``log_in`` with the password; fetched again when refused."""

    def __init__(self, config: UdeskConfig, login: HttpClient) -> None:
        self._config = config
        self._login = login
        self.token: str | None = None

    def headers(self) -> Mapping[str, str]:
        if self.token is None:
            self.renew()
        return {}

    def renew(self) -> bool:
        assert self._config.password is not None
        answer = self._login.request(
            "POST",
            "log_in",
            "/open_api_v1/log_in",
            body={
                "email": self._config.email,
                "password": self._config.password.get_secret_value(),
            },
        )
        if not isinstance(answer, dict) or answer.get("code") != OK:
            code = answer.get("code") if isinstance(answer, dict) else None
            raise AuthFailed(f"{self._config.name}: Udesk refused the login (code {code})")
        self.token = str(answer["open_api_auth_token"])
        return True


class SigningSession(requests.Session):
    """Adds a fresh signature (new timestamp and nonce) to every request it sends."""

    def __init__(self, email: str, login: UdeskLogin, clock: Callable[[], float]) -> None:
        super().__init__()
        self._email = email
        self._login = login
        self._clock = clock

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Any = None, **kwargs: Any
    ) -> requests.Response:
        token = self._login.token or ""
        timestamp, nonce = str(int(self._clock())), uuid.uuid4().hex
        signed = {
            **(params or {}),
            "email": self._email,
            "timestamp": timestamp,
            "nonce": nonce,
            "sign_version": "v2",
            "sign": sign(self._email, token, timestamp, nonce),
        }
        return super().request(method, url, params=signed, **kwargs)


class UdeskClient(HttpClient):
    """Udesk's 429 names no wait: the account's minute is spent (by any integration), so
    the source rests a full minute, longer than any wait inside a poll: the poll fails as
    rate limited (its window is counted by the next) instead of retrying into the limit."""

    def limited_for(self, response: requests.Response) -> float | None:
        asked = super().limited_for(response)
        return asked if asked is not None else max(60.0, self.max_wait) + 1.0


class UdeskCollector:
    """Reads per-queue open tickets by status from the counts of Udesk filters."""

    kind: ClassVar[str] = "udesk"
    config_model: ClassVar[type[BaseModel]] = UdeskConfig

    def __init__(
        self,
        config: UdeskConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        common: dict[str, Any] = {
            "timeout": config.timeout.total_seconds(),
            "retries": config.retries,
            "max_wait": config.max_wait.total_seconds(),
            "sleep": sleep,
        }
        budget = shared_budget(config, clock)
        login = UdeskLogin(
            config,
            HttpClient(config.name, config.api_root(), auth=NoAuth(), budget=budget, **common),
        )
        self.client = UdeskClient(
            config.name,
            config.api_root(),
            auth=login,
            budget=budget,
            session=SigningSession(config.email, login, clock),
            **common,
        )
        login._login.stats = self.client.stats
        self._auth = login
        self.http_stats = self.client.stats

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        refuse_past(
            window,
            self.name,
            "Udesk",
            "its API reads tickets only through filters defined in Udesk's console, with "
            "no time filter and no closing time",
        )
        queues = tuple(
            QueueStats(
                queue=q.name,
                open_by_status_priority={
                    (status, ""): n
                    for status, filter_id in q.filters.items()
                    if (n := self._count(filter_id))
                },
            )
            for q in self.config.queues
        )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            figures=(FigureState("priority", False, "counted per filter only", False),),
        )

    def close(self) -> None:
        self.client.session.close()

    def _count(self, filter_id: int) -> int:
        params = {"filter_id": str(filter_id), "page": "1", "per_page": "1"}
        path = "/open_api_v1/tickets/tickets_in_filter"
        answer = self.client.get("tickets_in_filter", path, params)
        if isinstance(answer, dict) and answer.get("code") not in (OK, None):
            raise MappingError(
                f"{self.name}: tickets_in_filter {filter_id}: Udesk answered code "
                f"{answer.get('code')} (does the filter exist?)"
            )
        try:
            return int(answer["meta"]["total_count"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: tickets_in_filter: no meta.total_count") from None
