"""ServiceNow (``kind: servicenow``): the Aggregate API, six requests whatever the queues.

``GET /api/now/stats/<table>`` groups and counts on the instance (``sysparm_group_by``,
``sysparm_count``, ``sysparm_min_fields``), so one poll asks, for the configured
assignment groups (``assignment_group.nameIN...``):

- open tickets (``open_query``, by default ``active=true^stateNOT IN6,7,8``) grouped by
  assignment group, state and priority, with the minimum ``opened_at`` of each (the
  oldest open ticket per group is the smallest);
- opened in the window (``opened_at>=START^opened_at<END``) and resolved in it
  (``resolved_at>=...^resolved_at<...`` among the tickets no longer open), by group;
- open and opened before the 7, 14 and 30-day cut-offs, by group.

As of a past instant ``T`` (``snapshot --as-of``): open then is ``open_query^opened_at<T``
plus the negated ``open_query^resolved_at>=T^opened_at<T`` (aging likewise with the
cut-offs), grouped by today's assignment group and reported under the status ``(open
then)`` (the state then is not in the ticket row); such snapshots are ``approximate``.

With a ``workload`` section (``collectors.hosted.workload``) the same API gives the
workload figures, each opt-in: the open request also asks the minimum ``sys_updated_on``
per group and state (oldest update, waiting counts and ages from the last update: free);
``assignees`` adds one request grouped by group and ``assigned_to``; each ``stale_after``
age one count of open tickets with ``sys_updated_on`` before it; ``routing`` sums
``reassignment_count`` in the resolved request and adds one count of the resolved with
``reopen_count>0``; ``top_categories`` groups the opened request by ``category`` too and
adds one request of open tickets by group and category. Field names are the incident
table's (ServiceNow's data dictionary; the UCI log exports them, ``sys_updated_on`` as
``sys_updated_at``); aggregates answer ``stats.min.<field>`` and ``stats.sum.<field>``
(Aggregate API, ``sysparm_min_fields``/``sysparm_sum_fields``). ServiceNow keeps no
queue-move counter on the incident, so the misroute figure is absent.

Values are display values (group, state and priority names as people see them), and
date-times in queries and answers are in the integration user's time zone
(``time_zone``), to the second: windows are exact. The Aggregate API needs read access to
every row of the table (``sn_incident_read`` or ``itil``; a row ACL makes it 403).
Authentication: Basic (``username`` + ``password``) or an OAuth bearer token. Quota: the
instance's rate-limit rules (``X-RateLimit-Remaining`` read back, 429 ``Retry-After``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, model_validator

from collectors.base import QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import TimeZone, basic_auth, bearer_auth
from collectors.hosted.figures import age_cutoffs
from collectors.hosted.past import OPEN_THEN
from collectors.hosted.source import HostedCollector
from collectors.hosted.workload import HostedWorkload, queue_workloads
from collectors.servicenowrows import group_fields as _fields
from collectors.servicenowrows import row_count as _count
from collectors.servicenowworkload import WorkloadRead, read_workload
from monitor.errors import MappingError

__all__ = ["ServiceNowCollector", "ServiceNowConfig"]

Row = dict[str, Any]


class ServiceNowConfig(HostedSourceConfig):
    """A ServiceNow instance (``kind: servicenow``)."""

    kind: Literal["servicenow"]
    base_url: str = Field(pattern=r"^https?://", description="https://<instance>.service-now.com")
    table: str = Field("incident", pattern=r"^[a-z0-9_]+$")
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    oauth_token: SecretStr | None = None
    oauth_token_file: Path | None = None
    oauth_token_env: str | None = None
    time_zone: TimeZone = Field("UTC", description="the integration user's time zone")
    assignment_groups: list[str] = Field(min_length=1, description="display names")
    open_query: str = Field("active=true^stateNOT IN6,7,8", description="encoded query")
    workload: HostedWorkload | None = Field(
        None, description="agent load, stale and waiting tickets, routing, top categories"
    )

    @model_validator(mode="after")
    def _credentials(self) -> ServiceNowConfig:
        self.take_credentials("password", "oauth_token", required=False)
        if (self.password is None) == (self.oauth_token is None):
            raise ValueError("give exactly one of password (with username) and oauth_token")
        if self.password is not None and not self.username:
            raise ValueError("a password needs its username")
        return self

    def poll_cost(self) -> PollCost:
        w = self.workload
        extra = 0
        if w is not None:  # waiting and the oldest update ride on the open request
            extra = (
                int(w.assignees)
                + len(w.stale_after)
                + int(w.routing)
                + int(w.top_categories is not None)
            )
            if w.listed_tickets is not None and w.stale_after:  # one list per group
                extra += len(self.assignment_groups)
        return PollCost(6 + extra, 6 + extra)

    def api_root(self) -> str:
        return self.base_url

    def auth_headers(self) -> dict[str, str]:
        """Basic or Bearer (a secret: never log it)."""
        if self.oauth_token is not None:
            return bearer_auth(self.oauth_token.get_secret_value())
        assert self.password is not None
        return basic_auth(str(self.username), self.password.get_secret_value())


class ServiceNowCollector(HostedCollector):
    """Reads per-group backlog, throughput and aging with the Aggregate API."""

    kind: ClassVar[str] = "servicenow"
    config_model: ClassVar[type[BaseModel]] = ServiceNowConfig

    config: ServiceNowConfig
    quota_header = "X-RateLimit-Remaining"

    def collect(self, window: Window) -> Snapshot:
        if window.historical:
            return self._past(window)
        w = self.config.workload
        updates = w is not None and w.updates
        open_rows = self._stats(
            self.config.open_query,
            "assignment_group,state,priority",
            min_fields="opened_at,sys_updated_on" if updates else "opened_at",
        )
        start, end = self._when(window.start), self._when(window.end)
        opened = f"opened_at>={start}^opened_at<{end}"
        by_category = w is not None and w.top_categories is not None
        created_rows = self._stats(opened, "assignment_group,category" if by_category else "")
        created = self._sum_counts(created_rows)
        done = f"{self._not(self.config.open_query)}^resolved_at>={start}^resolved_at<{end}"
        routing = w is not None and w.routing
        resolved_rows = self._stats(
            done, "assignment_group", sum_fields="reassignment_count" if routing else None
        )
        resolved = self._sum_counts(resolved_rows)
        older = {
            name: self._counts(f"{self.config.open_query}^opened_at<{self._when(cutoff)}")
            for name, cutoff in age_cutoffs(window.end).items()
        }
        by_group: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        oldest: dict[str, datetime] = {}
        for row in open_rows:
            group, state, priority = _fields(self.name, row, 3)
            by_group[group][(state, priority)] = _count(self.name, row)
            first = self._min(row, "opened_at")
            oldest[group] = min(first, oldest.get(group, first))
        workload = {}
        if w is not None:
            read = WorkloadRead(open_rows, created_rows, resolved_rows, done)
            workload = queue_workloads(read_workload(self, w, window, read), w, window.end)
        queues = tuple(
            QueueStats(
                queue=g,
                open_by_status_priority=by_group.get(g, {}),
                created=created[g],
                resolved=resolved[g],
                older_than={name: counts[g] for name, counts in older.items()},
                oldest_age_s=(
                    max(0.0, (window.end - oldest[g]).total_seconds()) if g in oldest else None
                ),
                workload=workload.get(g),
            )
            for g in self.config.assignment_groups
        )
        return Snapshot(source=self.name, window=window, queues=queues)

    def _past(self, window: Window) -> Snapshot:
        """As of ``window.end`` (``T``): open then = opened before ``T`` and open now
        (``open_query``), plus opened before ``T``, not open now and resolved at or after
        ``T``; aging likewise with the cut-offs; the flow over the window itself. The
        state and priority then are not known: the open tickets are reported under
        :data:`OPEN_THEN`, every ticket in today's assignment group."""
        at = self._when(window.end)
        still = f"{self.config.open_query}^opened_at<"
        since = f"{self._not(self.config.open_query)}^resolved_at>={at}^opened_at<"
        opened: Counter[str] = Counter()
        oldest: dict[str, datetime] = {}
        for query in (still + at, since + at):
            for row in self._stats(query, "assignment_group", min_fields="opened_at"):
                (group,) = _fields(self.name, row, 1)
                opened[group] += _count(self.name, row)
                first = self._min(row, "opened_at")
                oldest[group] = min(first, oldest.get(group, first))
        start, end = self._when(window.start), at
        created = self._counts(f"opened_at>={start}^opened_at<{end}")
        done = f"{self._not(self.config.open_query)}^resolved_at>={start}^resolved_at<{end}"
        resolved = self._counts(done)
        older = {
            name: self._counts(still + self._when(cutoff))
            + self._counts(since + self._when(cutoff))
            for name, cutoff in age_cutoffs(window.end).items()
        }
        queues = tuple(
            QueueStats(
                queue=g,
                open_by_status_priority={(OPEN_THEN, ""): opened[g]} if opened[g] else {},
                created=created[g],
                resolved=resolved[g],
                older_than={name: counts[g] for name, counts in older.items()},
                oldest_age_s=(
                    max(0.0, (window.end - oldest[g]).total_seconds()) if g in oldest else None
                ),
            )
            for g in self.config.assignment_groups
        )
        return Snapshot(source=self.name, window=window, queues=queues, exactness="approximate")

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.time_zone)

    def _groups(self) -> str:
        return "assignment_group.nameIN" + ",".join(self.config.assignment_groups)

    def _counts(self, query: str) -> Counter[str]:
        return self._sum_counts(self._stats(query, ""))

    def _sum_counts(self, rows: list[Row]) -> Counter[str]:
        """Per group, the counts of rows grouped by group (and maybe more fields)."""
        counts: Counter[str] = Counter()
        for row in rows:
            group = _fields(self.name, row, None)[0]
            counts[group] += _count(self.name, row)
        return counts

    def _stats(
        self,
        query: str,
        group_by: str,
        *,
        min_fields: str | None = None,
        sum_fields: str | None = None,
    ) -> list[Row]:
        """Rows of one Aggregate API request, grouped by ``group_by`` (``""``: by group)."""
        params = {
            "sysparm_query": f"{query}^{self._groups()}",
            "sysparm_count": "true",
            "sysparm_group_by": group_by or "assignment_group",
            "sysparm_display_value": "true",
        }
        if min_fields:
            params["sysparm_min_fields"] = min_fields
        if sum_fields:
            params["sysparm_sum_fields"] = sum_fields
        answer = self.client.get("stats", f"/api/now/stats/{self.config.table}", params)
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, list):
            raise MappingError(f"{self.name}: stats: no result list in the answer")
        return result

    def _min(self, row: Row, field: str) -> datetime:
        try:
            value = row["stats"]["min"][field]
        except (KeyError, TypeError):
            raise MappingError(f"{self.name}: stats: no minimum {field} in a row") from None
        return self._parse(value)

    @staticmethod
    def _not(query: str) -> str:
        """The tickets ``query`` does not select (ServiceNow's NQ starts a new OR-branch,
        so the negation is spelt per clause: only ``=`` and ``NOT IN`` clauses are known)."""
        clauses = []
        for clause in query.split("^"):
            if "NOT IN" in clause:
                clauses.append(clause.replace("NOT IN", "IN"))
            elif re.fullmatch(r"[a-z_.]+=[^=]*", clause):
                clauses.append(clause.replace("=", "!=", 1))
            else:
                raise MappingError(f"cannot negate the open_query clause {clause!r}")
        return "^OR".join(clauses)

    def _when(self, instant: datetime) -> str:
        return instant.astimezone(self._zone()).strftime("%Y-%m-%d %H:%M:%S")

    def _parse(self, value: str) -> datetime:
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self._zone())
        except (TypeError, ValueError):
            raise MappingError(f"{self.name}: stats: unreadable date {value!r}") from None
