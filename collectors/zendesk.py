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

With a ``workload`` section (``collectors.hosted.workload``), per group: stale counts
(``status<solved updated<CUTOFF``, one count per age), the oldest update and, per waiting
status (``pending``, ``hold``...), the least recently updated ticket in it (``search.json``
sorted by ``updated_at``, one result each, or ``listed_tickets`` of them: the stale and
waiting lists, ids and ``assignee_id`` as Zendesk gives them; the waiting counts are the
status counts already read); routing from the Ticket Metrics of the tickets solved in the (moved)
window: their ids from ``search.json`` (100 a page, at most ``workload_pages`` pages),
then ``tickets/show_many.json?ids=...&include=metric_sets`` (100 tickets a request): the
metric set's ``reopens`` (reopened: ``reopens > 0``), ``assignee_stations`` (reassignments:
stations beyond the first), ``group_stations`` (misrouted: more than one group) and
``initially_assigned_at`` (time to first assignment: from the ticket's ``created_at``,
never negative; a ticket never assigned has none). Field names are Zendesk's Ticket
Metrics API's. Search cannot group by assignee or category, so those figures are not
offered (an error at start-up).

Authentication: an API token (``email/token:TOKEN``, Basic) or an
OAuth access token (Bearer). Quota: the plan's requests per minute; ``X-Rate-Limit-
Remaining`` is read back, 429 ``Retry-After`` honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import NumberedQueue, basic_auth, bearer_auth
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
from config.durations import Duration
from monitor.errors import MappingError

__all__ = ["ZendeskCollector", "ZendeskConfig"]

OPEN_STATUSES = ("new", "open", "pending", "hold")
METRICS = ("reopens", "assignee_stations", "group_stations")
"""The Ticket Metrics counters read for routing (Zendesk's Ticket Metrics API), with
``initially_assigned_at`` (time to first assignment)."""


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

    workload: HostedWorkload | None = Field(
        None, description="stale and waiting tickets, routing (reopens, reassignments, misroutes)"
    )
    workload_pages: int = Field(
        1,
        ge=1,
        le=10,
        description="routing: pages of 100 solved tickets read per group and poll; a group "
        "that solved more in one window has no routing figure for it",
    )

    @model_validator(mode="after")
    def _workload_given(self) -> ZendeskConfig:
        w = self.workload
        if w is None:
            return self
        if w.assignees or w.top_categories is not None:
            raise ValueError(
                "workload: Zendesk's search cannot count per assignee or category without "
                "downloading the backlog; remove assignees and top_categories"
            )
        unknown = [s for s in w.waiting_statuses if s not in OPEN_STATUSES]
        if unknown:
            raise ValueError(
                f"workload.waiting_statuses: {', '.join(map(repr, unknown))} is not one of "
                f"the open statuses ({', '.join(OPEN_STATUSES)})"
            )
        return self

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
        w = self.workload
        if w is not None:  # at most: a waiting status with no ticket is not searched
            per_group += len(w.stale_after) + int(w.updates) + len(w.waiting_statuses)
            per_group += 2 * self.workload_pages if w.routing else 0
        return PollCost(per_group * len(self.groups), per_group * len(self.groups))

    def api_root(self) -> str:
        return self.base_url or f"https://{self.subdomain}.zendesk.com"

    def records_first_assignment(self) -> bool:
        """The Ticket Metrics' ``initially_assigned_at``, read with routing."""
        return self.workload is not None and self.workload.routing

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
        stats = self._flow(group, window)
        w = self.config.workload
        if w is None:
            return stats
        raw = self._workload(group, window, w, stats)
        return replace(
            stats, workload=queue_workloads({group.name: raw}, w, window.end)[group.name]
        )

    def _flow(self, group: NumberedQueue, window: Window) -> QueueStats:
        scope = f"type:ticket group:{group.id}"
        counts = {s: self._count(f"{scope} status:{s}") for s in OPEN_STATUSES}
        lag = self.config.index_lag  # consecutive windows stay consecutive once moved
        start, end = _iso(window.start - lag), _iso(window.end - lag)
        created = self._count(f"{scope} created>={start} created<{end}")
        resolved = self._count(f"{scope} solved>={start} solved<{end}")
        return aged_stats(
            group.name,
            counts,
            created,
            resolved,
            window.end,
            aging=self.config.aging,
            older=lambda cutoff: self._count(f"{scope} status<solved created<{_iso(cutoff)}"),
            oldest=lambda: self._oldest(f"{scope} status<solved"),
        )

    def _past(self, group: NumberedQueue, window: Window) -> QueueStats:
        """The group as of ``window.end`` (``T``): open then = created before ``T`` and
        not solved now (``status<solved``), plus created before ``T`` and solved or closed
        now (``status>hold``) with the solve at or after ``T``. The status then is not
        known: the open tickets are reported under :data:`OPEN_THEN`. The flow is counted
        in the window itself (no ``index_lag``: a past window is in the index)."""
        scope = f"type:ticket group:{group.id}"
        at = _iso(window.end)

        def flow() -> tuple[int, int]:
            start = _iso(window.start)
            created = self._count(f"{scope} created>={start} created<{at}")
            return created, self._count(f"{scope} solved>={start} solved<{at}")

        return past_stats(
            group.name,
            window,
            (f"{scope} status<solved", f"{scope} status>hold solved>={at}"),
            count=lambda q, before: self._count(f"{q} created<{_iso(before)}"),
            oldest=lambda q, before: self._oldest(f"{q} created<{_iso(before)}"),
            flow=flow,
            aging=self.config.aging,
        )

    def _workload(
        self, group: NumberedQueue, window: Window, w: HostedWorkload, stats: QueueStats
    ) -> RawWorkload:
        scope = f"type:ticket group:{group.id}"

        def least_recent(status: str | None, n: int) -> list[RawTicket]:
            of = f"status:{status}" if status is not None else "status<solved"
            return self._least_recent(f"{scope} {of}", n)

        raw = read_updates(
            w,
            window.end,
            stats.open_by_status_priority,
            stale=lambda before: self._count(f"{scope} status<solved updated<{_iso(before)}"),
            least_recent=least_recent,
            order=lambda t: (t.updated, int(t.id)),  # ties by id
        )
        if w.routing:
            lag = self.config.index_lag
            start, end = _iso(window.start - lag), _iso(window.end - lag)
            metrics = self._solved_metrics(f"{scope} solved>={start} solved<{end}")
            if metrics is not None:
                raw.resolved = len(metrics)
                raw.reopened = sum(1 for m in metrics if m["reopens"] > 0)
                raw.reassignments = sum(max(0, m["assignee_stations"] - 1) for m in metrics)
                raw.misrouted = sum(1 for m in metrics if m["group_stations"] > 1)
                waits = [m.first_assignment_s for m in metrics if m.first_assignment_s is not None]
                raw.assigned, raw.first_assignment_s = len(waits), float(sum(waits))
        return raw

    def _solved_metrics(self, query: str) -> list[_Metrics] | None:
        """The metric sets of the tickets ``query`` finds; None when they are more than
        ``workload_pages`` pages (the figure is then absent, never partial)."""
        ids: list[int] = []
        for page in range(1, self.config.workload_pages + 1):
            answer = self.client.get(
                "search",
                "/api/v2/search.json",
                {
                    "query": query,
                    "sort_by": "created_at",
                    "sort_order": "asc",
                    "per_page": "100",
                    "page": str(page),
                },
            )
            try:
                ids += [int(r["id"]) for r in answer["results"]]
                more = answer.get("next_page") is not None
            except (TypeError, KeyError, ValueError):
                raise MappingError(f"{self.name}: search: unexpected answer") from None
            if not more:
                break
        else:
            return None
        metrics: list[_Metrics] = []
        for first in range(0, len(ids), 100):
            chunk = ids[first : first + 100]
            answer = self.client.get(
                "tickets/show_many",
                "/api/v2/tickets/show_many.json",
                {"ids": ",".join(map(str, chunk)), "include": "metric_sets"},
            )
            try:
                found = {int(m["ticket_id"]): m for m in answer["metric_sets"]}
                created = {int(t["id"]): t["created_at"] for t in answer["tickets"]}
                metrics += [_metrics(found[i], created.get(i)) for i in chunk if i in found]
            except (TypeError, KeyError, ValueError):
                raise MappingError(f"{self.name}: tickets/show_many: no metric sets") from None
        return metrics

    def _count(self, query: str) -> int:
        answer = self.client.get("search/count", "/api/v2/search/count", {"query": query})
        try:
            return int(answer["count"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: search/count: no count in the answer") from None

    def _least_recent(self, query: str, n: int) -> list[RawTicket]:
        """The ``n`` least recently updated tickets ``query`` finds (ties by id)."""
        answer: Mapping[str, Any] = self.client.get(
            "search",
            "/api/v2/search.json",
            {"query": query, "sort_by": "updated_at", "sort_order": "asc", "per_page": str(n)},
        )
        try:
            return [
                RawTicket(
                    str(r["id"]),
                    str(r["status"]),
                    None if r.get("assignee_id") is None else str(r["assignee_id"]),
                    _parse(r["updated_at"]),
                )
                for r in answer["results"]
            ]
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: search: unexpected answer") from None

    def _oldest(self, query: str, field: str = "created_at") -> datetime | None:
        """The least recent ``field`` (``created_at`` or ``updated_at``) of the tickets
        ``query`` finds, None when it finds none."""
        answer: Mapping[str, Any] = self.client.get(
            "search",
            "/api/v2/search.json",
            {"query": query, "sort_by": field, "sort_order": "asc", "per_page": "1"},
        )
        try:
            results = answer["results"]
            return _parse(results[0][field]) if results else None
        except (TypeError, KeyError, IndexError, ValueError):
            raise MappingError(f"{self.name}: search: unexpected answer") from None


@dataclass(frozen=True)
class _Metrics:
    """What routing reads of one solved ticket's metric set."""

    counts: Mapping[str, int]
    """:data:`METRICS` (a missing or null counter is 0)."""
    first_assignment_s: float | None
    """``initially_assigned_at`` minus the ticket's ``created_at`` (at least 0); None
    when the ticket was never assigned or its creation was not returned."""

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


def _metrics(metric_set: Mapping[str, Any], created_at: str | None) -> _Metrics:
    assigned_at = metric_set.get("initially_assigned_at")
    wait = None
    if assigned_at is not None and created_at is not None:
        wait = max(0.0, (_parse(assigned_at) - _parse(created_at)).total_seconds())
    return _Metrics({k: int(metric_set[k] or 0) for k in METRICS}, wait)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
