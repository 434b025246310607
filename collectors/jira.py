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

With a ``workload`` section (``collectors.hosted.workload``), per queue: stale counts
(``statusCategory != Done AND updated < "CUTOFF"``, one count per age), the oldest
update (a search ``ORDER BY updated ASC``, one result, field ``updated``) and, per
waiting status (one of ``statuses``, whose counts are already read), its least recently
updated issue (one search each, skipped when none is open); with ``listed_tickets``
those searches return that many issues (key, status, assignee's display name): the
stale and waiting lists, no extra request. Routing (Cloud): the ids of
the issues resolved in the window (``search/jql``, 100 a page, at most
``workload_pages`` pages), then their ``assignee`` and ``resolution`` changelogs in one
``POST /rest/api/3/changelog/bulkfetch`` (``issueIdsOrKeys``, ``fieldIds``; answer
``issueChangeLogs[].changeHistories[].items[]`` with ``from``/``to``, paged by
``nextPageToken``, at most ``workload_pages`` pages): a reassignment is a change to an
assignee other than the previous one; an issue is reopened when its resolution was once
cleared (Jira clears it when a resolved issue is reopened); its time to first assignment
runs from its creation to its first ``assignee`` change from none (0 when created
assigned; ``collectors.jirarouting``), from the same answers. More issues or changelog
pages than that: no routing figure for the queue (absent, never partial). JQL cannot
group by assignee or category, queues are JQL (no move between them is recorded), and
Data Center has no bulk changelog: those are refused at start-up.

JQL dates have minute precision and are read in the API user's time zone (``time_zone``):
window bounds are written as the minute they fall in, so consecutive windows still share
their bounds (nothing lost or counted twice) while each window is moved to whole minutes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import TimeZone, basic_auth, bearer_auth
from collectors.hosted.figures import aged_stats
from collectors.hosted.past import past_stats
from collectors.hosted.source import HostedCollector
from collectors.hosted.workload import (
    HostedWorkload,
    RawTicket,
    RawWorkload,
    queue_workloads,
    read_updates,
)
from collectors.jirarouting import read_routing
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
    workload: HostedWorkload | None = Field(
        None, description="stale and waiting tickets, routing (Cloud)"
    )
    workload_pages: int = Field(
        1,
        ge=1,
        le=10,
        description="routing: pages of 100 resolved issues (and of changelogs) read per "
        "queue and poll; a queue that needs more has no routing figure for it",
    )

    @model_validator(mode="after")
    def _workload_given(self) -> JiraConfig:
        w = self.workload
        if w is None:
            return self
        if w.assignees or w.top_categories is not None:
            raise ValueError(
                "workload: JQL counts cannot group by assignee or category; remove "
                "assignees and top_categories"
            )
        if w.routing and self.deployment != "cloud":
            raise ValueError(
                "workload.routing reads Jira Cloud's bulk changelog, which Data Center "
                "does not have; remove routing"
            )
        unknown = [s for s in w.waiting_statuses if s not in self.statuses]
        if unknown:
            raise ValueError(
                f"workload.waiting_statuses: {', '.join(map(repr, unknown))} is not one of "
                f"statuses ({', '.join(self.statuses)})"
            )
        return self

    @model_validator(mode="after")
    def _credentials(self) -> JiraConfig:
        self.take_credentials("token", required=True)
        if self.deployment == "cloud" and not self.email:
            raise ValueError("Jira Cloud API tokens need the email of their account")
        return self

    def poll_cost(self) -> PollCost:
        per_queue = len(self.statuses) + 3 + (4 if self.aging else 0)
        w = self.workload
        if w is not None:  # at most: a waiting status with no issue is not searched
            per_queue += len(w.stale_after) + int(w.updates) + len(w.waiting_statuses)
            per_queue += 2 * self.workload_pages if w.routing else 0
        return PollCost(per_queue * len(self.queues), per_queue * len(self.queues))

    def api_root(self) -> str:
        return self.base_url

    def records_first_assignment(self) -> bool:
        """From the changelog routing reads (Cloud only: Data Center refuses routing)."""
        return self.workload is not None and self.workload.routing

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
        stats = self._flow(queue, window)
        w = self.config.workload
        if w is None:
            return stats
        raw = {queue.name: self._workload(queue, window, w, stats)}
        return replace(stats, workload=queue_workloads(raw, w, window.end)[queue.name])

    def _workload(
        self, queue: JiraQueue, window: Window, w: HostedWorkload, stats: QueueStats
    ) -> RawWorkload:
        unresolved = f"({queue.jql}) AND statusCategory != Done"

        def least_recent(status: str | None, n: int) -> list[RawTicket]:
            of = f'{unresolved} AND status = "{status}"' if status is not None else unresolved
            return self._least_recent(f"{of} ORDER BY updated ASC", n)

        raw = read_updates(
            w,
            window.end,
            stats.open_by_status_priority,
            stale=lambda before: self._count(f'{unresolved} AND updated < "{self._when(before)}"'),
            least_recent=least_recent,
            order=lambda t: (t.updated, t.id),  # ties by key
        )
        if w.routing:
            start, end = self._when(window.start), self._when(window.end)
            done = f'({queue.jql}) AND statusCategory = Done AND resolved >= "{start}"'
            jql = f'{done} AND resolved < "{end}"'
            routing = read_routing(self.client, self.name, jql, self.config.workload_pages)
            if routing is not None:
                raw.resolved, raw.reassignments = routing.resolved, routing.reassignments
                raw.reopened, raw.assigned = routing.reopened, routing.assigned
                raw.first_assignment_s = routing.first_assignment_s
        return raw

    def _flow(self, queue: JiraQueue, window: Window) -> QueueStats:
        scope = f"({queue.jql})"
        unresolved = f"{scope} AND statusCategory != Done"
        counts = {s: self._count(f'{unresolved} AND status = "{s}"') for s in self.config.statuses}
        counts[OTHER] = max(0, self._count(unresolved) - sum(counts.values()))
        start, end = self._when(window.start), self._when(window.end)
        created = self._count(f'{scope} AND created >= "{start}" AND created < "{end}"')
        resolved = self._count(
            f'{scope} AND statusCategory = Done AND resolved >= "{start}" AND resolved < "{end}"'
        )
        return aged_stats(
            queue.name,
            counts,
            created,
            resolved,
            window.end,
            aging=self.config.aging,
            older=lambda cutoff: self._count(f'{unresolved} AND created < "{self._when(cutoff)}"'),
            oldest=lambda: self._oldest(f"{unresolved} ORDER BY created ASC"),
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

        def flow() -> tuple[int, int]:
            start = self._when(window.start)
            created = self._count(f'{scope} AND created >= "{start}" AND created < "{at}"')
            done = f"{scope} AND statusCategory = Done"
            return created, self._count(f'{done} AND resolved >= "{start}" AND resolved < "{at}"')

        return past_stats(
            queue.name,
            window,
            (still, since),
            count=lambda q, before: self._count(f'{q}"{self._when(before)}"'),
            oldest=lambda q, before: self._oldest(
                f'{q}"{self._when(before)}" ORDER BY created ASC'
            ),
            flow=flow,
            aging=self.config.aging,
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

    def _least_recent(self, jql: str, n: int) -> list[RawTicket]:
        """The first ``n`` issues ``jql`` finds (ordered by it): key, status name,
        assignee's display name, last update."""
        params = {"jql": jql, "maxResults": str(n), "fields": "updated,status,assignee"}
        if self._cloud:
            answer = self.client.get("search/jql", "/rest/api/3/search/jql", params)
        else:
            answer = self.client.get("search", "/rest/api/2/search", params)
        try:
            out = []
            for issue in answer["issues"]:
                fields = issue["fields"]
                assignee = (fields.get("assignee") or {}).get("displayName")
                updated = datetime.strptime(fields["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
                out.append(
                    RawTicket(
                        str(issue["key"]),
                        str(fields["status"]["name"]),
                        None if assignee is None else str(assignee),
                        updated.astimezone(UTC),
                    )
                )
        except (TypeError, KeyError, ValueError, AttributeError):
            raise MappingError(f"{self.name}: unreadable issues in the search answer") from None
        return out

    def _oldest(self, jql: str, field: str = "created") -> datetime | None:
        """``field`` (``created`` or ``updated``) of the first issue ``jql`` finds."""
        params = {"jql": jql, "maxResults": "1", "fields": field}
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
            value = issues[0]["fields"][field]
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
        except (KeyError, TypeError, ValueError):
            raise MappingError(f"{self.name}: unreadable {field} time of an issue") from None
