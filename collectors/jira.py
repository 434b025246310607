"""Jira Service Management / Jira Software (``kind: jira``): JQL counts per queue.

A queue is a JQL restriction that bounds the search (``project = SD AND "Request Type"
= "Billing"``, say). Per queue, one poll counts with JQL:

- ``statusCategory != Done AND status = "S"`` for each configured open status, and
  ``statusCategory != Done`` once: open tickets in other statuses are reported under
  ``(other)`` so that the queue's total stays whole;
- ``created >= START AND created < END`` and ``statusCategory = Done AND resolved >=
  START AND resolved < END``;
- with ``aging`` (default), ``statusCategory != Done AND created < CUTOFF`` for 7, 14 and
  30 days, and one search ``ORDER BY created ASC`` with one result (the oldest open).

Cloud counts with ``POST /rest/api/3/search/approximate-count`` (the old ``/search``
with ``total`` was removed in 2025), which may miss the latest updates: Cloud snapshots
are marked ``approximate``. The oldest ticket comes from ``/rest/api/3/search/jql``
(token-paged, no ``total``). Data Center keeps ``GET /rest/api/2/search`` with
``maxResults=0`` and an exact ``total``.

As of a past instant ``T`` (``snapshot --as-of``): open then is ``statusCategory != Done
AND created < T`` plus ``statusCategory = Done AND resolved >= T AND created < T`` (aging
and the oldest likewise), reported under the status ``(open then)``, every issue in the
queue its JQL selects today (``approximate``). ``T`` is read to the minute, as JQL does.

JQL dates have minute precision and are read in the API user's time zone (``time_zone``):
window bounds are written as the minute they fall in, so consecutive windows still share
their bounds (nothing lost or counted twice) while each window is moved to whole minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import TimeZone, basic_auth, bearer_auth
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.past import OPEN_THEN
from collectors.hosted.source import HostedCollector
from monitor.errors import MappingError

__all__ = ["JiraCollector", "JiraConfig"]

OTHER = "(other)"
"""The status label of open tickets in statuses the configuration does not list."""


class JiraQueue(BaseModel):
    """One queue: a display name and the JQL that selects its tickets (bounded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    jql: str = Field(min_length=1)


class JiraConfig(HostedSourceConfig):
    """A Jira Cloud site or Data Center instance (``kind: jira``)."""

    kind: Literal["jira"]
    deployment: Literal["cloud", "datacenter"] = "cloud"
    base_url: str = Field(pattern=r"^https?://")
    email: str | None = Field(None, description="Cloud: the account the API token belongs to")
    token: SecretStr | None = None
    token_file: Path | None = None
    token_env: str | None = None
    time_zone: TimeZone = Field("UTC", description="the API user's time zone (JQL dates use it)")
    statuses: list[str] = Field(min_length=1, description="open statuses to count one by one")
    queues: list[JiraQueue] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open ticket and 7/14/30-day counts (4 calls)")

    @model_validator(mode="after")
    def _credentials(self) -> JiraConfig:
        self.take_credentials("token", required=True)
        if self.deployment == "cloud" and not self.email:
            raise ValueError("Jira Cloud API tokens need the email of their account")
        return self

    def poll_cost(self) -> PollCost:
        per_queue = len(self.statuses) + 3 + (4 if self.aging else 0)
        return PollCost(per_queue * len(self.queues), per_queue * len(self.queues))

    def api_root(self) -> str:
        return self.base_url

    def auth_headers(self) -> dict[str, str]:
        """Cloud: Basic email:token; Data Center: the personal access token as Bearer."""
        assert self.token is not None
        secret = self.token.get_secret_value()
        if self.deployment == "datacenter":
            return bearer_auth(secret)
        return basic_auth(str(self.email), secret)


class JiraCollector(HostedCollector):
    """Reads per-queue backlog, throughput and aging from Jira with JQL counts."""

    kind: ClassVar[str] = "jira"
    config_model: ClassVar[type[BaseModel]] = JiraConfig

    config: JiraConfig
    quota_header = "X-RateLimit-Remaining"

    def collect(self, window: Window) -> Snapshot:
        read = self._past if window.historical else self._queue
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(read(q, window) for q in self.config.queues),
            # as of a past instant, an issue counts in the queue its JQL selects today
            exactness="approximate" if self._cloud or window.historical else "exact",
            figures=(FigureState("priority", False, "counted per status only", False),),
        )

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.time_zone)

    @property
    def _cloud(self) -> bool:
        return self.config.deployment == "cloud"

    def _queue(self, queue: JiraQueue, window: Window) -> QueueStats:
        scope = f"({queue.jql})"
        unresolved = f"{scope} AND statusCategory != Done"
        counts = {s: self._count(f'{unresolved} AND status = "{s}"') for s in self.config.statuses}
        counts[OTHER] = max(0, self._count(unresolved) - sum(counts.values()))
        start, end = self._when(window.start), self._when(window.end)
        created = self._count(f'{scope} AND created >= "{start}" AND created < "{end}"')
        resolved = self._count(
            f'{scope} AND statusCategory = Done AND resolved >= "{start}" AND resolved < "{end}"'
        )
        if not self.config.aging:
            return queue_stats(queue.name, counts, created, resolved, window.end)
        older = {
            name: self._count(f'{unresolved} AND created < "{self._when(cutoff)}"')
            for name, cutoff in age_cutoffs(window.end).items()
        }
        return queue_stats(
            queue.name,
            counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=self._oldest(f"{unresolved} ORDER BY created ASC"),
        )

    def _past(self, queue: JiraQueue, window: Window) -> QueueStats:
        """The queue as of ``window.end`` (``T``, to the minute as JQL reads it): open then =
        not Done and created before ``T``, plus Done, resolved at or after ``T`` and created
        before ``T``; aging likewise with the cut-offs; the flow over the window. The
        status then is not read: the open issues are reported under :data:`OPEN_THEN`."""
        scope = f"({queue.jql})"
        at = self._when(window.end)
        still = f"{scope} AND statusCategory != Done AND created < "
        since = f'{scope} AND statusCategory = Done AND resolved >= "{at}" AND created < '
        counts = {OPEN_THEN: self._count(f'{still}"{at}"') + self._count(f'{since}"{at}"')}
        start = self._when(window.start)
        created = self._count(f'{scope} AND created >= "{start}" AND created < "{at}"')
        resolved = self._count(
            f'{scope} AND statusCategory = Done AND resolved >= "{start}" AND resolved < "{at}"'
        )
        if not self.config.aging:
            return queue_stats(queue.name, counts, created, resolved, window.end)
        older = {
            name: sum(self._count(f'{q}"{self._when(c)}"') for q in (still, since))
            for name, c in age_cutoffs(window.end).items()
        }
        firsts = [self._oldest(f'{q}"{at}" ORDER BY created ASC') for q in (still, since)]
        return queue_stats(
            queue.name,
            counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=min((f for f in firsts if f is not None), default=None),
        )

    def _when(self, instant: datetime) -> str:
        return instant.astimezone(self._zone()).strftime("%Y-%m-%d %H:%M")

    def _count(self, jql: str) -> int:
        if self._cloud:
            answer = self.client.post(
                "search/approximate-count", "/rest/api/3/search/approximate-count", {"jql": jql}
            )
            key = "count"
        else:
            answer = self.client.get(
                "search", "/rest/api/2/search", {"jql": jql, "maxResults": "0", "fields": "id"}
            )
            key = "total"
        try:
            return int(answer[key])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: no {key} in the search answer") from None

    def _oldest(self, jql: str) -> datetime | None:
        params = {"jql": jql, "maxResults": "1", "fields": "created"}
        if self._cloud:
            answer = self.client.get("search/jql", "/rest/api/3/search/jql", params)
        else:
            answer = self.client.get("search", "/rest/api/2/search", params)
        issues: Any = answer.get("issues") if isinstance(answer, dict) else None
        if not isinstance(issues, list):
            raise MappingError(f"{self.name}: no issues list in the search answer")
        if not issues:
            return None
        try:
            created = issues[0]["fields"]["created"]
            return datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
        except (KeyError, TypeError, ValueError):
            raise MappingError(f"{self.name}: unreadable created time of an issue") from None
