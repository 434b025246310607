"""A fake Zoho Desk fed from the BPI 2013 (Volvo IT) incident log.

Mapping: a department is the log's support team (``Involved ST``); ``statusType`` is
Closed when the event's status is ``Completed``, On Hold for the ``Wait...`` sub-statuses,
Open otherwise; ``status`` is the sub-status, ``priority`` the impact. Department ids are
the teams' ranks in the log (17-digit strings, as Zoho's ids are). A ticket's
``assigneeId`` is the ``Resource`` of its latest event, numbered by the resources'
ranks in the log (13 digits, as Zoho's agent ids are).

The API part answers what the collector asks, as Zoho documents it: OAuth tokens from
``/oauth/v2/token`` (an hour; a bad refresh token is a 200 with ``error``), the ``orgId``
header, ``ticketsCount`` and ``ticketsCountByFieldValues`` (counts as strings; ``createdTimeRange``
and ``modifiedTimeRange`` filter them), and ``tickets/search`` (sorted by ``createdTime``
or ``modifiedTime``, ties by id; inclusive ISO ranges, ``from`` <= 999 and ``limit`` <= 100 or 422,
204 when nothing matches). For per-agent figures: ``agents?departmentIds=D`` lists a
department's roster (every resource with an event in the team before the instant, by
agent id; ``from``, ``limit`` <= 200 or 422; 204 past the end) and
``agentsTicketsCount?agentIds=...&departmentId=D`` (50 ids at most, or 422) gives each
agent's ``openCount`` (Open status type) and ``onholdCount`` (On Hold) in the
department. Listing and search cost 3 credits, counts 1. Every answer carries
``X-Rate-Limit-Remaining-v3``; a day's credits spent gives 429 ``THRESHOLD_EXCEEDED``
with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.hostedworkload import Names, expected_workloads
from tests.collectors.ticketlog import TicketLog
from tests.data import BPIC2013_LOG

ORG = "60001234567"
CLIENT_ID = "1000.FAKECLIENT"
OPEN_TYPES = {"Open": "OPEN", "On Hold": "ONHOLD", "Closed": "CLOSED"}


@cache
def volvo_log() -> TicketLog:
    """The Volvo incidents as Zoho Desk tickets."""
    raw = pd.read_csv(BPIC2013_LOG, dtype=str, keep_default_na=False)
    done = raw["Status"] == "Completed"
    waiting = raw["Sub Status"].str.startswith("Wait")
    label = pd.Series("Open", index=raw.index).mask(waiting, "On Hold").mask(done, "Closed")
    return TicketLog(
        pd.DataFrame(
            {
                "id": raw["SR Number"],
                "at": pd.to_datetime(raw["Change Date+Time"], utc=True),
                "queue": raw["Involved ST"],
                "status": raw["Sub Status"],
                "label": label,
                "priority": raw["SR Latest Impact"],
                "done": done,
                "assignee": raw["Resource"],
            }
        ),
        carry=("assignee",),
    )


@cache
def agent_ids(log: TicketLog) -> dict[str, str]:
    """Resource -> Zoho agent id (the resources' ranks in the log)."""
    resources = log.events["assignee"].value_counts().index
    return {str(r): str(4000000000000 + i) for i, r in enumerate(resources)}


def departments(n: int) -> list[dict[str, str]]:
    """The ``n`` busiest teams as departments: ``{id, name}``."""
    teams = team_names(volvo_log())[:n]
    return [{"id": department_id(i), "name": team} for i, team in enumerate(teams)]


@cache
def team_names(log: TicketLog) -> list[str]:
    """Every team, busiest first (their ranks give the department ids)."""
    return [str(t) for t in log.events["queue"].value_counts().index]


@cache
def department_names(log: TicketLog) -> dict[str, str]:
    """Department id -> team name."""
    return {department_id(i): team for i, team in enumerate(team_names(log))}


@cache
def department_ids(log: TicketLog) -> dict[str, str]:
    """Team name -> department id."""
    return {team: dept for dept, team in department_names(log).items()}


def department_id(rank: int) -> str:
    return str(18920000000000000 + rank)


@dataclass
class FakeZohoDesk:
    """The API over the log at ``clock()``; ``token_life`` and credits are adjustable."""

    clock: Callable[[], datetime]
    refresh_token: str
    client_secret: str
    log: TicketLog = field(default_factory=volvo_log)
    token_life: float = 3600.0
    announced_life: float | None = None
    """What ``expires_in`` says, when the server revokes tokens earlier than it announces."""
    daily_credits: int = 1_000_000
    storm: tuple[datetime, datetime] | None = None
    """While the clock is in ``[start, end)``, every API request gets 429 TOO_MANY_REQUESTS
    with ``Retry-After`` until the end."""
    tokens: dict[str, datetime] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        if call.path == "/oauth/v2/token":
            return self._token(call.form())
        if not self._authorised(call):
            return Reply(
                401, {"errorCode": "INVALID_OAUTH", "message": "The OAuth Token is invalid"}
            )
        if call.headers.get("orgId") != ORG:
            return Reply(400, {"errorCode": "INVALID_DATA", "message": "orgId is missing"})
        if self.storm is not None and self.storm[0] <= self.clock() < self.storm[1]:
            wait = (self.storm[1] - self.clock()).total_seconds()
            return Reply(429, {"errorCode": "TOO_MANY_REQUESTS"}, {"Retry-After": f"{wait:.0f}"})
        listing = call.path in ("/api/v1/tickets/search", "/api/v1/agents")
        cost = 3 if listing else 1
        day = self.clock().date().isoformat()
        left = self.daily_credits - self.spent.get(day, 0)
        if left < cost:
            retry = (pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)) - pd.Timestamp(
                self.clock()
            )
            return Reply(
                429,
                {"errorCode": "THRESHOLD_EXCEEDED"},
                {"Retry-After": str(int(retry.total_seconds()))},
            )
        self.spent[day] = self.spent.get(day, 0) + cost
        quota = {"X-Rate-Limit-Remaining-v3": str(left - cost)}
        routes = {
            "/api/v1/ticketsCountByFieldValues": self._by_field,
            "/api/v1/ticketsCount": self._count,
            "/api/v1/tickets/search": self._search,
            "/api/v1/agents": self._agents,
            "/api/v1/agentsTicketsCount": self._agent_counts,
        }
        route = routes.get(call.path)
        if route is None:
            return Reply(404, {"errorCode": "URL_NOT_FOUND"}, quota)
        reply = route(call)
        return Reply(reply.status, reply.body, {**quota, **reply.headers})

    def _token(self, form: dict[str, str]) -> Reply:
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != self.client_secret
            or form.get("refresh_token") != self.refresh_token
        ):
            return Reply(200, {"error": "invalid_code"})
        token = f"1000.{len(self.tokens):04d}.access"
        self.tokens[token] = self.clock() + timedelta(seconds=self.token_life)
        return Reply(
            200,
            {
                "access_token": token,
                "api_domain": "https://www.zohoapis.com",
                "token_type": "Bearer",
                "expires_in": int(self.announced_life or self.token_life),
            },
        )

    def _authorised(self, call: Call) -> bool:
        scheme, _, token = call.headers.get("Authorization", "").partition(" ")
        expiry = self.tokens.get(token)
        return scheme == "Zoho-oauthtoken" and expiry is not None and self.clock() < expiry

    def _tickets(self, call: Call) -> pd.DataFrame:
        names = department_names(self.log)
        dept = call.arg("departmentId")
        if dept is None:
            state = self.log.state_at(self.clock())
        else:
            state = self.log.queue_state_at(self.clock(), names.get(dept, ""))
        for param, column in (("createdTimeRange", "created"), ("modifiedTimeRange", "modified")):
            value = call.arg(param)
            if value is not None:
                low, high = (pd.Timestamp(v) for v in value.split(","))
                state = state[(state[column] >= low) & (state[column] <= high)]
        return state

    def _by_field(self, call: Call) -> Reply:
        if call.arg("field") != "statusType":
            return Reply(422, {"errorCode": "INVALID_DATA"})
        counts = self._tickets(call)["label"].value_counts()
        values = [{"count": str(int(counts.get(k, 0))), "value": v} for k, v in OPEN_TYPES.items()]
        return Reply(200, {"statusType": values})

    def _count(self, call: Call) -> Reply:
        return Reply(200, {"count": len(self._tickets(call))})

    def _search(self, call: Call) -> Reply:
        start, limit = int(call.arg("from", "0") or 0), int(call.arg("limit", "10") or 10)
        if start > 999 or not 1 <= limit <= 100 or "sortOrder" in call.query:
            return Reply(422, {"errorCode": "INVALID_DATA"})
        found = self._tickets(call)
        wanted = {"${open}": "Open", "${onhold}": "On Hold", "${closed}": "Closed"}
        labels = {wanted[s] for s in (call.arg("status") or "").split(",") if s in wanted}
        if labels:
            found = found[found["label"].isin(labels)]
        sort = {"createdTime": "created", "modifiedTime": "modified"}[
            call.arg("sortBy", "createdTime") or "createdTime"
        ]
        page = found.sort_values([sort, "id"]).iloc[start : start + limit]
        if page.empty:
            return Reply(204)
        return Reply(200, {"data": [self._ticket(row) for row in page.itertuples()]})

    def _agents(self, call: Call) -> Reply:
        start, limit = int(call.arg("from", "0") or 0), int(call.arg("limit", "10") or 10)
        if not 0 <= limit <= 200:
            return Reply(422, {"errorCode": "INVALID_DATA"})
        team = department_names(self.log).get(call.arg("departmentIds") or "", "")
        seen = self.log.events[self.log.events["at"] < pd.Timestamp(self.clock())]
        ids = agent_ids(self.log)
        roster = sorted(ids[str(r)] for r in seen.loc[seen["queue"] == team, "assignee"].unique())
        page = roster[start : start + limit]
        if not page:
            return Reply(204)
        return Reply(200, {"data": [{"id": agent, "status": "ACTIVE"} for agent in page]})

    def _agent_counts(self, call: Call) -> Reply:
        asked = [a for a in (call.arg("agentIds") or "").split(",") if a]
        if not 1 <= len(asked) <= 50:
            return Reply(422, {"errorCode": "INVALID_DATA"})
        team = department_names(self.log).get(call.arg("departmentId") or "", "")
        state = self.log.queue_state_at(self.clock(), team)
        agents = state["assignee"].map(agent_ids(self.log))
        data = []
        for agent in asked:
            mine = state.loc[agents == agent, "label"]
            counts = {
                "agentId": agent,
                "openCount": int((mine == "Open").sum()),
                "onholdCount": int((mine == "On Hold").sum()),
            }
            data.append(counts)
        return Reply(200, {"data": data})

    def _ticket(self, row: Any) -> dict[str, Any]:
        ids = department_ids(self.log)
        return {
            "id": str(row.id),
            "ticketNumber": str(row.id),
            "statusType": row.label,
            "status": row.status,
            "departmentId": ids[str(row.queue)],
            "priority": row.priority,
            "createdTime": _iso(row.created),
            "modifiedTime": _iso(row.modified),
            "closedTime": None if pd.isna(row.resolved) else _iso(row.resolved),
            "assigneeId": agent_ids(self.log).get(str(row.assignee)),
        }


def _iso(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


SECRET = "PLANTED-zoho-client-secret-5c1e"
REFRESH = "1000.PLANTED-zoho-refresh-7f3a"


class Kit:
    """What the case harness needs to run a Zoho Desk case."""

    secrets = (SECRET, REFRESH)
    environment = {"ZOHO_REFRESH_TOKEN": REFRESH}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeZohoDesk:
        return FakeZohoDesk(clock, refresh_token=REFRESH, client_secret=SECRET, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "zohodesk",
            "name": "zoho",
            "base_url": f"{url}/api/v1",
            "accounts_url": url,
            "org_id": ORG,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token_env": "ZOHO_REFRESH_TOKEN",
            "departments": departments(int(case.get("departments", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(d.name, d.name) for d in config.departments]

    def log(self) -> TicketLog:
        return volvo_log()

    def expected(self, config: Any, window: Any, queue: QueueStats) -> QueueStats:
        """With a ``workload`` section, the department's agent, stale and waiting figures
        (pandas over the same log; statuses are the status types, as Zoho counts them;
        no oldest ticket per agent; no agent figures for a department whose roster, the
        resources with an event in its team so far, is longer than
        ``department_agents``)."""
        if config.workload is None:
            return queue
        names = Names(agent=lambda a: agent_ids(volvo_log())[a])
        teams = [d.name for d in config.departments]
        seen = self.log().events[self.log().events["at"] < pd.Timestamp(window.end)]
        rosters = seen[seen["queue"].isin(teams)].groupby("queue")["assignee"].nunique()
        figures = expected_workloads(
            ByStatusType(self.log()),
            teams,
            window.start,
            window.end,
            config.workload,
            names=names,
            agents_in=[t for t in teams if rosters.get(t, 0) <= config.department_agents],
            agent_oldest=False,
        )
        return QueueStats(**{**queue.__dict__, "workload": figures[queue.queue]})


@dataclass(frozen=True)
class ByStatusType:
    """The log's states with the status type as the status (what Zoho's counts and
    ``tickets/search``'s ``${onhold}`` select on)."""

    log: TicketLog

    def state_at(self, instant: datetime) -> pd.DataFrame:
        state = self.log.state_at(instant)
        return state.assign(status=state["label"])
