"""GitLab issues (``kind: gitlab``): ``issues_statistics`` per label queue, closings from GraphQL.

One project or group (``project:`` / ``group:``, its full path), one queue per label (or
every issue). Per queue, one poll sends (REST, ``/api/v4``):

- ``GET .../issues_statistics?scope=all&labels=L``: ``statistics.counts.opened`` is the
  open backlog (``state`` is ignored by this endpoint, gitlab#439797: the counts of every
  state come back at once);
- the same with ``created_after=START&created_before=END``: ``counts.all`` is the
  window's created issues (both bounds inclusive, so ``END`` is the window's end less a
  millisecond: the window is half-open as the daemon's);
- with ``aging`` (default), the same with ``created_before=CUTOFF`` (less a millisecond:
  strictly older) for 7, 14 and 30 days
  (``counts.opened``), and ``GET .../issues?state=opened&labels=L&order_by=created_at
  &sort=asc&per_page=1``: the oldest open issue.

As of a past instant ``T`` (``snapshot --as-of``): open then is ``issues_statistics``
with ``created_before=T`` (``opened``) plus GraphQL ``issues(createdBefore: T, closedAfter:
T)``; aging likewise with the cut-offs; the oldest open issue then is not given. Issues
count under today's labels, so such snapshots are ``approximate``.

REST has no ``closed_after`` (gitlab#440227), so closings come from GraphQL
(``POST /api/graphql``): one request for up to ``graphql_batch`` queues, an alias per
queue, ``issues(labelName:, closedAfter:, closedBefore:) { count }``. Counts are read
from the database: the snapshot is exact.

Authentication: a personal, project or group access token with ``read_api``
(``PRIVATE-TOKEN`` on REST, ``Authorization: Bearer`` on GraphQL). Quota: GitLab.com's
and self-managed instances' ``RateLimit-Remaining`` is read back, 429 ``Retry-After``
honoured; the plan limit is the instance's (``budget.requests_per_minute``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import Budget, HostedSourceConfig, HttpClient, NoAuth, PollCost, QuotaHeaders
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.source import client_options
from config.secrets import resolve_credential
from monitor.errors import MappingError

__all__ = ["GitLabCollector", "GitLabConfig"]

MILLISECOND = timedelta(milliseconds=1)
"""GitLab's date bounds are inclusive: a strict ``<`` bound is this much earlier."""
PATH = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"


class LabelQueue(BaseModel):
    """Issues with a label (none: every issue of the project or group)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: str | None = Field(None, pattern=r'^[^"\\,]+$', description="no quote, comma")


class GitLabConfig(HostedSourceConfig):
    """A GitLab project or group (``kind: gitlab``)."""

    kind: Literal["gitlab"]
    url: str = Field("https://gitlab.com", description="a self-managed instance's root URL")
    project: str | None = Field(None, pattern=PATH, description="full path: group/project")
    group: str | None = Field(None, pattern=PATH, description="full path: group[/subgroup]")
    token: SecretStr | None = None
    token_file: Path | None = None
    token_env: str | None = None
    queues: list[LabelQueue] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open issue and 7/14/30-day counts")
    graphql_batch: int = Field(50, ge=1, le=100, description="queues per GraphQL request")

    @model_validator(mode="after")
    def _scope_and_token(self) -> GitLabConfig:
        if (self.project is None) == (self.group is None):
            raise ValueError("give exactly one of project and group (full paths)")
        value = resolve_credential(
            self.token, self.token_file, self.token_env, "token", required=True
        )
        object.__setattr__(self, "token", value)
        object.__setattr__(self, "token_file", None)
        object.__setattr__(self, "token_env", None)
        return self

    def poll_cost(self) -> PollCost:
        per_queue = 2 + (4 if self.aging else 0)
        graphql = -(-len(self.queues) // self.graphql_batch)
        total = per_queue * len(self.queues) + graphql
        return PollCost(total, total)

    def rest_scope(self) -> str:
        """``/projects/ID`` or ``/groups/ID``, the full path URL-encoded as the id."""
        if self.project is not None:
            return f"/api/v4/projects/{quote(self.project, safe='')}"
        assert self.group is not None
        return f"/api/v4/groups/{quote(self.group, safe='')}"

    def headers(self, graphql: bool) -> dict[str, str]:
        """The token's header (a secret: never log it)."""
        assert self.token is not None
        secret = self.token.get_secret_value()
        return {"Authorization": f"Bearer {secret}"} if graphql else {"PRIVATE-TOKEN": secret}


class GitLabCollector:
    """Reads per-label backlog, throughput and aging from GitLab's REST and GraphQL APIs."""

    kind: ClassVar[str] = "gitlab"
    config_model: ClassVar[type[BaseModel]] = GitLabConfig

    def __init__(
        self,
        config: GitLabConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        budget = Budget(config.name, config.budget.per_minute(), None, clock)
        common: dict[str, Any] = {
            "budget": budget,  # REST and GraphQL draw on the same per-user limit
            "quota": QuotaHeaders(minute_left="RateLimit-Remaining", reset_at="RateLimit-Reset"),
            **client_options(config, sleep),
        }
        self.client = HttpClient(
            config.name, config.url, auth=NoAuth(config.headers(graphql=False)), **common
        )
        self.graphql = HttpClient(
            config.name, config.url, auth=NoAuth(config.headers(graphql=True)), **common
        )
        self.graphql.stats = self.client.stats
        self.http_stats = self.client.stats

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        if window.historical:
            return self._past(window)
        closed = self._closed(window)
        queues = tuple(self._queue(q, window, closed[i]) for i, q in enumerate(self.config.queues))
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            exactness="exact",
            figures=(FigureState("priority", False, "GitLab issues have no priority", False),),
        )

    def close(self) -> None:
        self.client.session.close()
        self.graphql.session.close()

    def _queue(self, queue: LabelQueue, window: Window, closed: int) -> QueueStats:
        end = window.end - MILLISECOND
        open_now = self._statistics(queue)["opened"]
        created = self._statistics(
            queue, created_after=_iso(window.start), created_before=_iso(end)
        )["all"]
        if not self.config.aging:
            return queue_stats(queue.name, {"opened": open_now}, created, closed, window.end)
        older = {
            name: self._statistics(queue, created_before=_iso(cutoff - MILLISECOND))["opened"]
            for name, cutoff in age_cutoffs(window.end).items()
        }
        return queue_stats(
            queue.name,
            {"opened": open_now},
            created,
            closed,
            window.end,
            older_than=older,
            oldest_created=self._oldest(queue),
        )

    def _statistics(self, queue: LabelQueue, **dates: str) -> Mapping[str, int]:
        params = {"scope": "all", **dates}
        if queue.label is not None:
            params["labels"] = queue.label
        path = f"{self.config.rest_scope()}/issues_statistics"
        answer = self.client.get("issues_statistics", path, params)
        try:
            counts = answer["statistics"]["counts"]
            return {k: int(counts[k]) for k in ("all", "opened", "closed")}
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: issues_statistics: no counts in the answer") from None

    def _oldest(self, queue: LabelQueue) -> datetime | None:
        params = {
            "state": "opened",
            "scope": "all",
            "order_by": "created_at",
            "sort": "asc",
            "per_page": "1",
        }
        if queue.label is not None:
            params["labels"] = queue.label
        answer = self.client.get("issues", f"{self.config.rest_scope()}/issues", params)
        try:
            return _parse(answer[0]["created_at"]) if answer else None
        except (TypeError, KeyError, IndexError, ValueError):
            raise MappingError(f"{self.name}: issues: unexpected answer") from None

    def _past(self, window: Window) -> Snapshot:
        """As of ``window.end`` (``T``): open then = created before ``T`` and open now
        (``issues_statistics``), plus created before ``T`` and closed at or after it
        (GraphQL ``createdBefore``/``closedAfter``; a reopened issue has no closing time);
        aging likewise with the cut-offs; the flow over the window. The oldest open issue
        then is not given (REST cannot filter on the closing time). Issues count under
        today's labels: ``approximate``."""
        at = _iso(window.end)

        def since(before: datetime) -> list[int]:
            return self._graph(
                f'closedAfter: "{at}", createdBefore: "{_iso(before - MILLISECOND)}"'
            )

        reopened_since = since(window.end)
        cutoffs = age_cutoffs(window.end)
        older_since = {name: since(cutoff) for name, cutoff in cutoffs.items()}
        closed = self._closed(window)
        queues = []
        for i, queue in enumerate(self.config.queues):
            end = _iso(window.end - MILLISECOND)
            opened = self._statistics(queue, created_before=end)["opened"] + reopened_since[i]
            created = self._statistics(queue, created_after=_iso(window.start), created_before=end)
            older = None
            if self.config.aging:
                older = {
                    name: self._statistics(queue, created_before=_iso(c - MILLISECOND))["opened"]
                    + older_since[name][i]
                    for name, c in cutoffs.items()
                }
            queues.append(
                queue_stats(
                    queue.name,
                    {"opened": opened},
                    created["all"],
                    closed[i],
                    window.end,
                    older_than=older,
                )
            )
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(queues),
            exactness="approximate",
            figures=(FigureState("priority", False, "GitLab issues have no priority", False),),
        )

    def _closed(self, window: Window) -> list[int]:
        """Issues closed in the window, per queue, from GraphQL (REST cannot say)."""
        after, before = _iso(window.start), _iso(window.end - MILLISECOND)
        return self._graph(f'closedAfter: "{after}", closedBefore: "{before}"')

    def _graph(self, filters: str) -> list[int]:
        """Per queue, the issues GraphQL counts with ``filters`` (batched by
        ``graphql_batch``)."""
        kind = "project" if self.config.project is not None else "group"
        path = self.config.project or self.config.group
        out: list[int] = []
        queues = self.config.queues
        for first in range(0, len(queues), self.config.graphql_batch):
            batch = queues[first : first + self.config.graphql_batch]
            fields = []
            for i, queue in enumerate(batch):
                label = f'labelName: ["{queue.label}"], ' if queue.label is not None else ""
                fields.append(f"q{i}: issues({label}{filters}) {{ count }}")
            query = f'query {{ scope: {kind}(fullPath: "{path}") {{ {" ".join(fields)} }} }}'
            answer = self.graphql.post("graphql", "/api/graphql", {"query": query})
            out += self._counts(answer, len(batch))
        return out

    def _counts(self, answer: Any, n: int) -> list[int]:
        if isinstance(answer, dict) and answer.get("errors"):
            first = answer["errors"][0]
            message = first.get("message", "?") if isinstance(first, dict) else "?"
            raise MappingError(f"{self.name}: graphql: {str(message)[:200]}")
        try:
            scope = answer["data"]["scope"]
            if scope is None:
                raise MappingError(
                    f"{self.name}: graphql: no such project or group, or the token cannot read it"
                )
            return [int(scope[f"q{i}"]["count"]) for i in range(n)]
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: graphql: unexpected answer") from None


def _iso(instant: datetime) -> str:
    text = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{text[:-3]}Z"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
