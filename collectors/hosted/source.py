"""What every hosted collector shares: a client built from its settings, its name, close."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from collectors.hosted.budget import Budget
from collectors.hosted.client import Auth, HttpClient, HttpStats, NoAuth, QuotaHeaders
from collectors.hosted.config import HostedSourceConfig

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def client_options(config: HostedSourceConfig, sleep: Sleep) -> dict[str, Any]:
    """What every client of ``config``'s source takes from its settings: timeout, retries,
    longest wait, and the sleep it waits with (keyword arguments of :class:`HttpClient`)."""
    return {
        "timeout": config.timeout.total_seconds(),
        "retries": config.retries,
        "max_wait": config.max_wait.total_seconds(),
        "sleep": sleep,
    }


def client_for(
    config: HostedSourceConfig,
    base_url: str,
    auth: Auth,
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    quota: QuotaHeaders | None = None,
    client_class: type[HttpClient] = HttpClient,
) -> HttpClient:
    """A client for ``config``'s source: its budget, timeout, retries and longest wait."""
    return client_class(
        config.name,
        base_url,
        auth=auth,
        budget=Budget(config.name, config.budget.per_minute(), config.budget.per_day(), clock),
        quota=quota or QuotaHeaders(),
        **client_options(config, sleep),
    )


class HostedCollector:
    """The client, the name, the request counts (``http_stats``, read by the daemon) and
    ``close``. By default the client sends ``config.auth_headers()`` to
    ``config.api_root()`` and reads the remaining requests from ``quota_header``."""

    quota_header: ClassVar[str | None] = None

    def __init__(
        self, config: HostedSourceConfig, clock: Clock = time.time, sleep: Sleep = time.sleep
    ) -> None:
        self.config = config
        self.client = self.make_client(clock, sleep)
        self.http_stats: HttpStats = self.client.stats

    def make_client(self, clock: Clock, sleep: Sleep) -> HttpClient:
        return client_for(
            self.config,
            self.config.api_root(),
            NoAuth(self.config.auth_headers()),
            clock=clock,
            sleep=sleep,
            quota=QuotaHeaders(minute_left=self.quota_header),
        )

    @property
    def name(self) -> str:
        return self.config.name

    def close(self) -> None:
        self.client.session.close()
