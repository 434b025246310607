"""Zendesk Support (``kind: zendesk``): ``search/count`` per group, nothing downloaded.

Per configured group, one poll sends these search counts (``GET /api/v2/search/count``,
each ``{"count": N}``, the true total even past search's 1,000-result cap):

- ``status:new``, ``status:open``, ``status:pending``, ``status:hold``: the open backlog;
- ``created>=START created<END`` and ``solved>=START solved<END``: the window's flow
  (ISO instants with seconds: the window is half-open as the daemon's);
- with ``aging`` (default), ``status<solved created<CUTOFF`` for 7, 14 and 30 days, and
  one ``search.json`` sorted by ``created_at`` ascending, one result: the oldest open
  ticket.

As of a past instant ``T`` (``snapshot --as-of``) the open backlog is ``status<solved
created<T`` plus ``status>hold solved>=T created<T`` (aging likewise with the cut-offs,
the oldest from the same two searches), reported under the status ``(open then)``: the
status a ticket had then is not searchable. Tickets count in today's group, so such
snapshots are ``approximate``.

Search reads an index that lags the tickets by up to a few minutes, so every snapshot is
marked ``lagging``, and the flow is counted in the daemon's window moved back by
``index_lag`` (3 min): a ticket solved just before the poll would not be in the index
yet, and the next window would no longer cover it. Moved windows are still consecutive:
nothing is counted twice or lost, the flow is reported ``index_lag`` late.

Authentication: an API token (``email/token:TOKEN``, Basic) or an
OAuth access token (Bearer). Quota: the plan's requests per minute; ``X-Rate-Limit-
Remaining`` is read back, 429 ``Retry-After`` honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import NumberedQueue, basic_auth, bearer_auth
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.past import OPEN_THEN
from collectors.hosted.source import HostedCollector
from config.durations import Duration
from monitor.errors import MappingError

__all__ = ["ZendeskCollector", "ZendeskConfig"]

OPEN_STATUSES = ("new", "open", "pending", "hold")


class ZendeskConfig(HostedSourceConfig):
    """A Zendesk account (``kind: zendesk``)."""

    kind: Literal["zendesk"]
    subdomain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    base_url: str | None = Field(None, description="instead of subdomain (a proxy, tests)")
    email: str | None = Field(None, description="with token: API-token authentication")
    token: SecretStr | None = None
    token_file: Path | None = None
    token_env: str | None = None
    oauth_token: SecretStr | None = None
    oauth_token_file: Path | None = None
    oauth_token_env: str | None = None
    groups: list[NumberedQueue] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open ticket and 7/14/30-day counts (4 calls)")
    index_lag: Duration = Field(
        timedelta(minutes=3),
        description="created/solved are counted in the window moved this far back, so that "
        "the search index has caught up with it",
    )

    @model_validator(mode="after")
    def _credentials(self) -> ZendeskConfig:
        if (self.subdomain is None) == (self.base_url is None):
            raise ValueError("give exactly one of subdomain and base_url")
        self.take_credentials("token", "oauth_token", required=False)
        if (self.token is None) == (self.oauth_token is None):
            raise ValueError("give exactly one of token (with email) and oauth_token")
        if self.token is not None and not self.email:
            raise ValueError("an API token needs the email of the agent it belongs to")
        return self

    def poll_cost(self) -> PollCost:
        per_group = len(OPEN_STATUSES) + 2 + (4 if self.aging else 0)
        return PollCost(per_group * len(self.groups), per_group * len(self.groups))

    def api_root(self) -> str:
        return self.base_url or f"https://{self.subdomain}.zendesk.com"

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header (a secret: never log it)."""
        if self.oauth_token is not None:
            return bearer_auth(self.oauth_token.get_secret_value())
        assert self.token is not None
        return basic_auth(f"{self.email}/token", self.token.get_secret_value())


class ZendeskCollector(HostedCollector):
    """Reads per-group backlog, throughput and aging from Zendesk's search counts."""

    kind: ClassVar[str] = "zendesk"
    config_model: ClassVar[type[BaseModel]] = ZendeskConfig

    config: ZendeskConfig
    quota_header = "X-Rate-Limit-Remaining"

    def collect(self, window: Window) -> Snapshot:
        read = self._past if window.historical else self._group
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(read(g, window) for g in self.config.groups),
            # as of a past instant, tickets count in today's group (no history read)
            exactness="approximate" if window.historical else "lagging",
            figures=(
                FigureState(
                    "priority", False, "not broken down by priority (one count each)", False
                ),
            ),
        )

    def _group(self, group: NumberedQueue, window: Window) -> QueueStats:
        scope = f"type:ticket group:{group.id}"
        counts = {s: self._count(f"{scope} status:{s}") for s in OPEN_STATUSES}
        lag = self.config.index_lag  # consecutive windows stay consecutive once moved
        start, end = _iso(window.start - lag), _iso(window.end - lag)
        created = self._count(f"{scope} created>={start} created<{end}")
        resolved = self._count(f"{scope} solved>={start} solved<{end}")
        if not self.config.aging:
            return queue_stats(group.name, counts, created, resolved, window.end)
        older = {
            name: self._count(f"{scope} status<solved created<{_iso(cutoff)}")
            for name, cutoff in age_cutoffs(window.end).items()
        }
        return queue_stats(
            group.name,
            counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=self._oldest(f"{scope} status<solved"),
        )

    def _past(self, group: NumberedQueue, window: Window) -> QueueStats:
        """The group as of ``window.end`` (``T``): open then = created before ``T`` and
        not solved now (``status<solved``), plus created before ``T`` and solved or closed
        now (``status>hold``) with the solve at or after ``T``. The status then is not
        known: the open tickets are reported under :data:`OPEN_THEN`. The flow is counted
        in the window itself (no ``index_lag``: a past window is in the index)."""
        scope = f"type:ticket group:{group.id}"
        at = _iso(window.end)
        still, since = f"{scope} status<solved", f"{scope} status>hold solved>={at}"
        open_then = self._count(f"{still} created<{at}") + self._count(f"{since} created<{at}")
        start, end = _iso(window.start), _iso(window.end)
        created = self._count(f"{scope} created>={start} created<{end}")
        resolved = self._count(f"{scope} solved>={start} solved<{end}")
        counts = {OPEN_THEN: open_then}
        if not self.config.aging:
            return queue_stats(group.name, counts, created, resolved, window.end)
        older = {
            name: self._count(f"{still} created<{_iso(cutoff)}")
            + self._count(f"{since} created<{_iso(cutoff)}")
            for name, cutoff in age_cutoffs(window.end).items()
        }
        firsts = [self._oldest(f"{q} created<{at}") for q in (still, since)]
        return queue_stats(
            group.name,
            counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=min((f for f in firsts if f is not None), default=None),
        )

    def _count(self, query: str) -> int:
        answer = self.client.get("search/count", "/api/v2/search/count", {"query": query})
        try:
            return int(answer["count"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: search/count: no count in the answer") from None

    def _oldest(self, query: str) -> datetime | None:
        answer: Mapping[str, Any] = self.client.get(
            "search",
            "/api/v2/search.json",
            {"query": query, "sort_by": "created_at", "sort_order": "asc", "per_page": "1"},
        )
        try:
            results = answer["results"]
            return _parse(results[0]["created_at"]) if results else None
        except (TypeError, KeyError, IndexError, ValueError):
            raise MappingError(f"{self.name}: search: unexpected answer") from None


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
