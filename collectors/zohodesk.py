"""Zoho Desk (``kind: zohodesk``): count endpoints per department, one search for closures.

Per configured department, one poll asks:

- ``ticketsCountByFieldValues?field=statusType`` for the open backlog by status type
  (``Open``, ``On Hold``); Zoho counts one field at a time, so there is no priority
  breakdown (the ``priority`` figure is reported absent);
- ``ticketsCount`` with ``createdTimeRange`` for the tickets created in the window;
- with ``aging`` (default), three more ``ticketsCountByFieldValues`` restricted to tickets
  created before ``now - 7/14/30 d`` and one ``tickets/search`` sorted by ``createdTime``
  (the oldest open ticket; Zoho answers 204, not an empty list, when nothing matches).

Closures come from one organisation-wide ``tickets/search`` of closed tickets modified
since the window's start (a ticket closed in the window was modified then or later),
paged 100 at a time; ``from`` may not pass 999, so a long list restarts from the last
``modifiedTime`` seen (ids already counted are skipped). Zoho's time ranges include both
ends and have millisecond precision: ``[start, end)`` is asked as ``start,end-1ms``.

With a ``workload`` section (``collectors.hosted.workload``), per department: stale
counts (the same ``ticketsCountByFieldValues?field=statusType`` restricted to tickets
whose ``modifiedTime`` is before each cut-off, ``modifiedTimeRange``: one count per
age), the oldest update and the stale list (one ``tickets/search`` of open and on-hold
tickets sorted by ``modifiedTime``, ``listed_tickets`` results), and per waiting status
type (``On Hold``, the only status type that waits) the least recently modified tickets
in it (one more search; the count is the status count already read). With
``assignees``, per department: its agents (``GET /agents?departmentIds=D``, 200 a page,
``department_agents + 1`` at most, so that a longer roster is seen and the department
has no per-agent figure rather than a partial one) and their open tickets in it
(``agentsTicketsCount?agentIds=...&departmentId=D``, 50 agents a request: an agent's
open tickets are its ``openCount`` plus ``onholdCount``, the status types the
department's backlog counts). Zoho gives no oldest ticket per agent (absent). Routing
and categories are refused at start-up (docs/hosted.md says why).

Authentication is OAuth 2.0: an access token (valid an hour) is fetched from the region's
accounts server with the refresh token shortly before it expires, and once more when a
request answers 401. Quota: daily credits (``X-Rate-Limit-Remaining-v3`` read back) and
two kinds of 429: ``TOO_MANY_REQUESTS`` (concurrency, no ``Retry-After``: retried after a
short backoff) and ``THRESHOLD_EXCEEDED`` (the day's credits: ``Retry-After``, or until the
next UTC day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, HttpClient, NoAuth, PollCost, QuotaHeaders
from collectors.hosted.budget import DAY
from collectors.hosted.config import listing_pages, peak_changes_field
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.past import refuse_past
from collectors.hosted.source import Clock, HostedCollector, Sleep, client_for
from collectors.hosted.workload import (
    HostedWorkload,
    RawTicket,
    RawWorkload,
    queue_workloads,
    read_updates,
)
from monitor.errors import AuthFailed, MappingError

__all__ = ["ZohoDeskCollector", "ZohoDeskConfig"]

Region = Literal["com", "eu", "in", "com.au", "jp", "com.cn", "ca", "sa", "sg", "ae"]

OPEN_TYPES = {"OPEN": "Open", "ONHOLD": "On Hold"}
"""Zoho's open status types (as ``ticketsCountByFieldValues`` spells them) and their labels."""
SEARCH_STATUS = {"Open": "${open}", "On Hold": "${onhold}"}
"""How ``tickets/search`` names each open status type (by its label)."""
WAITING_TYPES = ("On Hold",)
"""The open status types that wait on someone else (``workload.waiting_statuses``)."""
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""The start of the ranges that mean "before" (Zoho's ranges need both ends)."""

SEARCH_PAGE = 100
SEARCH_MAX_FROM = 999
AGENTS_PAGE = 200
"""Agents listed a request (``GET /agents``: ``limit`` at most 200)."""
AGENTS_PER_COUNT = 50
"""Agent ids an ``agentsTicketsCount`` request takes at most."""


class Department(BaseModel):
    """One Zoho Desk department, watched as a queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9]+$")
    name: str


class ZohoDeskConfig(HostedSourceConfig):
    """A Zoho Desk portal (``kind: zohodesk``)."""

    kind: Literal["zohodesk"]
    region: Region = Field("com", description="the data centre: desk.zoho.<region>")
    base_url: str | None = Field(None, description="overrides the region's API root")
    accounts_url: str | None = Field(None, description="overrides the region's OAuth server")
    org_id: str = Field(pattern=r"^[0-9]+$")
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    client_secret_env: str | None = None
    refresh_token: SecretStr | None = None
    refresh_token_file: Path | None = None
    refresh_token_env: str | None = None
    departments: list[Department] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open ticket and 7/14/30-day counts (4 calls)")
    credits_per_count: int = Field(
        1,
        ge=1,
        description="credits a count call uses (Zoho does not publish it; read "
        "X-Rate-Limit-Request-Weight-v3)",
    )
    credits_per_search: int = Field(3, ge=1, description="credits a search page uses")
    peak_changes_per_minute: float = peak_changes_field("closed tickets modified", 10)
    workload: HostedWorkload | None = Field(
        None,
        description="per-agent open tickets, stale counts, oldest update, On Hold tickets' "
        "last update, their lists",
    )
    department_agents: int = Field(
        100,
        ge=1,
        le=5000,
        description="workload.assignees: the most agents a department's roster is read with "
        "(priced at start-up); a department with more has no per-agent figure",
    )

    @model_validator(mode="after")
    def _credentials(self) -> ZohoDeskConfig:
        self.take_credentials("client_secret", "refresh_token", required=True)
        return self

    @model_validator(mode="after")
    def _workload_given(self) -> ZohoDeskConfig:
        w = self.workload
        if w is None:
            return self
        refused = [
            name
            for name, asked in (
                ("routing", w.routing),
                ("top_categories", w.top_categories is not None),
            )
            if asked
        ]
        if refused:
            raise ValueError(
                f"workload: {', '.join(refused)}: not given by Zoho Desk's count endpoints "
                "(routing needs one metrics request per ticket, categories have no count "
                "field); remove them"
            )
        unknown = [s for s in w.waiting_statuses if s not in WAITING_TYPES]
        if unknown:
            raise ValueError(
                f"workload.waiting_statuses: {', '.join(map(repr, unknown))} is not a "
                f"waiting status type of Zoho Desk ({', '.join(WAITING_TYPES)})"
            )
        return self

    def poll_cost(self) -> PollCost:
        counts = len(self.departments) * (5 if self.aging else 2)
        changes = self.peak_changes_per_minute * self.interval.total_seconds() / 60
        closures = listing_pages(changes, SEARCH_PAGE, SEARCH_MAX_FROM + 1)
        searches = closures + (len(self.departments) if self.aging else 0)
        w = self.workload
        if w is not None:  # at most: a waiting status with no ticket is not searched
            counts += len(self.departments) * len(w.stale_after)
            searches += len(self.departments) * (int(w.updates) + len(w.waiting_statuses))
            if w.assignees:  # the roster's pages (lists) and the agents' counts
                searches += len(self.departments) * agent_pages(self.department_agents)
                counts += len(self.departments) * -(-self.department_agents // AGENTS_PER_COUNT)
        return PollCost(
            counts + searches,
            counts * self.credits_per_count + searches * self.credits_per_search,
        )

    def api_root(self) -> str:
        if self.base_url:
            return self.base_url
        host = "desk.zohocloud.ca" if self.region == "ca" else f"desk.zoho.{self.region}"
        return f"https://{host}/api/v1"

    def accounts_root(self) -> str:
        if self.accounts_url:
            return self.accounts_url
        host = "accounts.zohocloud.ca" if self.region == "ca" else f"accounts.zoho.{self.region}"
        return f"https://{host}"


def agent_pages(most: int) -> int:
    """Roster pages read for a department of at most ``most`` agents (one agent more is
    asked for, to see a longer roster)."""
    return (most + 1 + AGENTS_PAGE - 1) // AGENTS_PAGE


class ZohoOAuth:
    """Access tokens from the refresh token, renewed a minute before they expire."""

    MARGIN = 60.0

    def __init__(self, config: ZohoDeskConfig, accounts: HttpClient, clock: Callable[[], float]):
        self._config = config
        self._accounts = accounts
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0

    def headers(self) -> Mapping[str, str]:
        if self._token is None or self._clock() >= self._expires - self.MARGIN:
            self.renew()
        return {"Authorization": f"Zoho-oauthtoken {self._token}", "orgId": self._config.org_id}

    def renew(self) -> bool:
        assert self._config.client_secret is not None and self._config.refresh_token is not None
        answer = self._accounts.request(
            "POST",
            "oauth/token",
            "/oauth/v2/token",
            form={
                "grant_type": "refresh_token",
                "client_id": self._config.client_id,
                "client_secret": self._config.client_secret.get_secret_value(),
                "refresh_token": self._config.refresh_token.get_secret_value(),
            },
        )
        # Zoho answers a bad refresh token with 200 and {"error": "invalid_code"}.
        if not isinstance(answer, dict) or "access_token" not in answer:
            error = answer.get("error", "no access_token") if isinstance(answer, dict) else "?"
            raise AuthFailed(
                f"{self._config.name}: the OAuth server refused the refresh token ({error})"
            )
        self._token = str(answer["access_token"])
        self._expires = self._clock() + float(answer.get("expires_in", 3600))
        return True


class ZohoClient(HttpClient):
    """Zoho's two 429s: concurrency (no ``Retry-After``) and the day's credits."""

    def limited_for(self, response: requests.Response) -> float | None:
        asked = super().limited_for(response)
        if asked is not None:
            return asked
        try:
            code = response.json().get("errorCode")
        except (ValueError, AttributeError):
            code = None
        if code == "THRESHOLD_EXCEEDED":
            now = self.budget.clock()
            return (now // DAY + 1) * DAY - now
        return None  # TOO_MANY_REQUESTS: a short backoff


class ZohoDeskCollector(HostedCollector):
    """Reads per-department backlog, throughput and aging from Zoho Desk's count API."""

    kind: ClassVar[str] = "zohodesk"
    config_model: ClassVar[type[BaseModel]] = ZohoDeskConfig

    config: ZohoDeskConfig

    def make_client(self, clock: Clock, sleep: Sleep) -> HttpClient:
        """OAuth from the region's accounts server; Zoho's own 429s and credit header."""
        accounts = client_for(
            self.config, self.config.accounts_root(), NoAuth(), clock=clock, sleep=sleep
        )
        client = client_for(
            self.config,
            self.config.api_root(),
            ZohoOAuth(self.config, accounts, clock),
            clock=clock,
            sleep=sleep,
            quota=QuotaHeaders(daily_left="X-Rate-Limit-Remaining-v3"),
            client_class=ZohoClient,
        )
        accounts.stats = client.stats  # token requests are counted with the others
        return client

    def collect(self, window: Window) -> Snapshot:
        refuse_past(
            window,
            self.name,
            "Zoho Desk",
            "its count endpoints filter on the creation time only, not on the closing "
            "time, so the open backlog then cannot be counted",
        )
        resolved = self._resolved(window)
        queues = tuple(
            self._flow(d, window, resolved.get(d.id, 0)) for d in self.config.departments
        )
        w = self.config.workload
        if w is not None:  # agent labels are bounded over the whole source
            raw = {
                d.name: self._workload(d, window, w, stats)
                for d, stats in zip(self.config.departments, queues, strict=True)
            }
            figures = queue_workloads(raw, w, window.end)
            queues = tuple(replace(q, workload=figures[q.queue]) for q in queues)
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            figures=(
                FigureState("priority", False, "Zoho Desk counts one field at a time", False),
                FigureState("unassigned", False, "not collected from Zoho Desk", False),
            ),
        )

    def _workload(
        self, dept: Department, window: Window, w: HostedWorkload, stats: QueueStats
    ) -> RawWorkload:
        def least_recent(status: str | None, n: int) -> list[RawTicket]:
            types = (status,) if status is not None else tuple(SEARCH_STATUS)
            return self._least_recent(dept, types, n)

        def stale(before: datetime) -> int:
            return sum(self._open_by_type(dept, None, modified_before=before).values())

        raw = read_updates(
            w,
            window.end,
            stats.open_by_status_priority,
            stale=stale,
            least_recent=least_recent,
            order=lambda t: (t.updated, t.id),  # ties by id, as the search sorts them
        )
        if w.assignees:
            raw.agents = self._agents(dept)
        return raw

    def _agents(self, dept: Department) -> dict[str, tuple[int, datetime | None]] | None:
        """The department's agents with open tickets (Open and On Hold) and how many,
        or None when its roster is longer than ``department_agents``."""
        roster = self._roster(dept)
        if roster is None:
            return None
        out: dict[str, tuple[int, datetime | None]] = {}
        for first in range(0, len(roster), AGENTS_PER_COUNT):
            ids = roster[first : first + AGENTS_PER_COUNT]
            answer = self.client.get(
                "agentsTicketsCount",
                "/agentsTicketsCount",
                {"agentIds": ",".join(ids), "departmentId": dept.id},
                self.config.credits_per_count,
            )
            try:
                for entry in answer["data"]:
                    n = int(entry.get("openCount") or 0) + int(entry.get("onholdCount") or 0)
                    if n:
                        out[str(entry["agentId"])] = (n, None)
            except (TypeError, KeyError, ValueError, AttributeError):
                raise MappingError(f"{self.name}: agentsTicketsCount: unexpected shape") from None
        return out

    def _roster(self, dept: Department) -> list[str] | None:
        """The ids of the department's agents, at most ``department_agents`` (None: more)."""
        most = self.config.department_agents
        ids: list[str] = []
        while len(ids) <= most:
            limit = min(AGENTS_PAGE, most + 1 - len(ids))
            answer = self.client.get(
                "agents",
                "/agents",
                {"departmentIds": dept.id, "from": str(len(ids)), "limit": str(limit)},
                self.config.credits_per_search,
            )
            if answer is None:  # 204: no (more) agents
                return ids
            try:
                page = [str(agent["id"]) for agent in answer["data"]]
            except (TypeError, KeyError):
                raise MappingError(f"{self.name}: agents: unexpected shape") from None
            ids += page
            if len(page) < limit:
                break
        return ids if len(ids) <= most else None

    def _least_recent(self, dept: Department, types: tuple[str, ...], n: int) -> list[RawTicket]:
        """The ``n`` least recently modified open tickets of ``types`` (labels)."""
        answer = self.client.get(
            "tickets/search",
            "/tickets/search",
            {
                "departmentId": dept.id,
                "status": ",".join(SEARCH_STATUS[t] for t in types),
                "sortBy": "modifiedTime",
                "from": "0",
                "limit": str(n),
            },
            self.config.credits_per_search,
        )
        try:
            return [
                RawTicket(
                    str(t["id"]),
                    str(t["statusType"]),
                    None if t.get("assigneeId") is None else str(t["assigneeId"]),
                    _parse(self.name, t["modifiedTime"]),
                )
                for t in _tickets(self.name, answer)
            ]
        except (TypeError, KeyError):
            raise MappingError(f"{self.name}: tickets/search: unexpected ticket") from None

    def _flow(self, dept: Department, window: Window, resolved: int) -> QueueStats:
        counts = self._open_by_type(dept, None)
        created = 0  # an empty window (the clock went back) has no range to ask for
        if window.end > window.start:
            created = self._count(
                "ticketsCount", {"departmentId": dept.id, "createdTimeRange": _range(window)}
            )
        if not self.config.aging:
            return queue_stats(dept.name, counts, created, resolved, window.end)
        older = {
            name: sum(self._open_by_type(dept, cutoff).values())
            for name, cutoff in age_cutoffs(window.end).items()
        }
        return queue_stats(
            dept.name,
            counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=self._oldest(dept),
        )

    def _open_by_type(
        self, dept: Department, before: datetime | None, modified_before: datetime | None = None
    ) -> dict[str, int]:
        """Open tickets per status type; ``before``: created before it; ``modified_before``:
        last modified before it."""
        params = {"departmentId": dept.id, "field": "statusType"}
        if before is not None:
            params["createdTimeRange"] = f"{_iso(EPOCH)},{_iso(_last_ms(before))}"
        if modified_before is not None:
            params["modifiedTimeRange"] = f"{_iso(EPOCH)},{_iso(_last_ms(modified_before))}"
        answer = self.client.get(
            "ticketsCountByFieldValues",
            "/ticketsCountByFieldValues",
            params,
            self.config.credits_per_count,
        )
        try:
            values = {str(v["value"]).upper(): int(v["count"]) for v in answer["statusType"]}
        except (TypeError, KeyError, ValueError):
            raise MappingError(
                f"{self.name}: ticketsCountByFieldValues: unexpected shape"
            ) from None
        return {label: values.get(key, 0) for key, label in OPEN_TYPES.items()}

    def _count(self, endpoint: str, params: dict[str, str]) -> int:
        answer = self.client.get(endpoint, f"/{endpoint}", params, self.config.credits_per_count)
        try:
            return int(answer["count"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: {endpoint}: no count in the answer") from None

    def _oldest(self, dept: Department) -> datetime | None:
        answer = self.client.get(
            "tickets/search",
            "/tickets/search",
            {
                "departmentId": dept.id,
                "status": "${open},${onhold}",
                "sortBy": "createdTime",
                "from": "0",
                "limit": "1",
            },
            self.config.credits_per_search,
        )
        tickets = _tickets(self.name, answer)
        return _parse(self.name, tickets[0]["createdTime"]) if tickets else None

    def _resolved(self, window: Window) -> Counter[str]:
        """Closed tickets whose ``closedTime`` is in the window, per department id."""
        seen: set[str] = set()
        counts: Counter[str] = Counter()
        since, offset = window.start, 0
        while True:
            page = _tickets(
                self.name,
                self.client.get(
                    "tickets/search",
                    "/tickets/search",
                    {
                        "status": "${closed}",
                        "modifiedTimeRange": f"{_iso(since)},{_iso(window.end + DAY_AHEAD)}",
                        "sortBy": "modifiedTime",
                        "from": str(offset),
                        "limit": str(SEARCH_PAGE),
                    },
                    self.config.credits_per_search,
                ),
            )
            for ticket in page:
                closed = ticket.get("closedTime")
                if ticket["id"] in seen or closed is None:
                    continue
                seen.add(ticket["id"])
                if window.start <= _parse(self.name, closed) < window.end:
                    counts[str(ticket.get("departmentId"))] += 1
            if len(page) < SEARCH_PAGE:
                return counts
            offset += SEARCH_PAGE
            if offset + SEARCH_PAGE > SEARCH_MAX_FROM + 1:  # restart after the last one seen
                last = _parse(self.name, page[-1]["modifiedTime"])
                if last <= since:
                    raise MappingError(f"{self.name}: over 1,000 closures share one modifiedTime")
                since, offset = last, 0


DAY_AHEAD = timedelta(days=1)
"""Modifications up to a day after the window's end still find the tickets closed in it."""


def _tickets(source: str, answer: Any) -> list[dict[str, Any]]:
    if answer is None:  # 204: nothing matched
        return []
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise MappingError(f"{source}: tickets/search: no data list in the answer")
    return data


def _last_ms(instant: datetime) -> datetime:
    """The last millisecond before ``instant``: Zoho's ranges include their end."""
    return instant - timedelta(milliseconds=1)


def _range(window: Window) -> str:
    return f"{_iso(window.start)},{_iso(_last_ms(window.end))}"


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{instant.microsecond // 1000:03d}Z"
    )


def _parse(source: str, value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise MappingError(f"{source}: unreadable time {value!r}") from None
