"""A fake Help Scout fed from the ServiceNow incident log (UCI).

Mapping: a mailbox is the incident's ``assignment_group``; the conversation status
follows the incident state (New, Active and the log's few ``-100``: active; the Awaiting
states: pending; Resolved, Closed: closed); the assignee is ``assigned_to`` (``?``:
unassigned), user ids the resolvers' ranks in the log. Creation is ``opened_at``, the
latest change ``sys_updated_at`` (minute precision, read as UTC), ``closedAt`` when the
incident last became Resolved or Closed. Mailbox ids are the groups' ranks in the log.

The API part, as Help Scout documents it: client-credentials tokens from
``POST /v2/oauth2/token`` (``expires_in`` 172800; bad credentials: 401
``invalid_client``), Bearer tokens checked and expired by the clock;
``GET /v2/mailboxes/{id}/folders`` (Unassigned ``open``, ``assigned``, ``closed``,
``spam`` and one ``mytickets`` folder per user with open conversations, each with
``totalCount`` = active + pending and ``activeCount``); ``GET /v2/conversations`` with
``mailbox`` (a comma list), ``status`` (active by default; open = active + pending,
all, closed, pending), ``modifiedSince``, ``query`` (``(createdAt:[A TO B])``, ends
included, ``*`` open), ``sortField``/``sortOrder`` and ``page``: 25 a page, ``page``
with ``totalElements``, and ``_links.next`` whose href drops every parameter but
``page`` (the documented bug). ``X-RateLimit-Limit-Minute`` and
``X-RateLimit-Remaining-Minute`` on every answer; the minute's allowance spent gives 429
with ``X-RateLimit-Retry-After`` (no ``Retry-After``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats, Window
from collectors.workload import AgentLoad, QueueWorkload, spread
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.incidents import LOG_TIME
from tests.collectors.ticketlog import TicketLog
from tests.data import SERVICENOW_LOG

STATUSES = {
    "New": "active",
    "Active": "active",
    "-100": "active",
    "Awaiting User Info": "pending",
    "Awaiting Vendor": "pending",
    "Awaiting Problem": "pending",
    "Awaiting Evidence": "pending",
    "Resolved": "closed",
    "Closed": "closed",
}
CLIENT_ID = "hs-app-0d5e"
SECRET = "PLANTED-helpscout-secret-71fa"
PAGE = 25
PUBLIC = "https://api.helpscout.net"
TIME = "%Y-%m-%dT%H:%M:%SZ"
RANGE = re.compile(r"^\((createdAt|modifiedAt):\[(\S+) TO (\S+)\]\)$")
SELECT = {
    "active": ["active"],
    "pending": ["pending"],
    "open": ["active", "pending"],
    "closed": ["closed"],
    "all": ["active", "pending", "closed"],
    "spam": [],
}


@cache
def helpscout_log() -> TicketLog:
    """The ServiceNow incidents as Help Scout conversations, with their assignees."""
    raw = pd.read_csv(
        SERVICENOW_LOG,
        usecols=[
            "number",
            "incident_state",
            "opened_at",
            "sys_updated_at",
            "assignment_group",
            "assigned_to",
        ],
        dtype=str,
        keep_default_na=False,
    )
    status = raw["incident_state"].map(STATUSES)
    return TicketLog(
        pd.DataFrame(
            {
                "id": raw["number"],
                "at": pd.to_datetime(raw["sys_updated_at"], format=LOG_TIME, utc=True),
                "opened": pd.to_datetime(raw["opened_at"], format=LOG_TIME, utc=True),
                "queue": raw["assignment_group"],
                "status": status,
                "label": status,
                "priority": "",
                "done": status == "closed",
                "assignee": raw["assigned_to"],
            }
        ),
        carry=("assignee",),
    )


@cache
def mailbox_names() -> list[str]:
    """Every group, busiest first; ``?`` (no group) left out. Ids are the ranks."""
    counts = helpscout_log().events["queue"].value_counts()
    return [str(g) for g in counts.index if g != "?"]


@cache
def mailbox_ids() -> dict[str, int]:
    """Group name -> mailbox id."""
    return {name: mailbox_id(i) for i, name in enumerate(mailbox_names())}


NO_MAILBOX = 299999
"""Where the log's few incidents with no group (``?``) are: a mailbox nobody watches."""


@cache
def user_ids() -> dict[str, int]:
    """Resolver name -> user id (the rank in the log); ``?`` has none."""
    counts = helpscout_log().events["assignee"].value_counts()
    return {str(a): 4000 + i for i, a in enumerate(counts.index) if a != "?"}


def mailbox_id(rank: int) -> int:
    return 300000 + rank


def mailboxes(n: int) -> list[dict[str, Any]]:
    return [{"id": mailbox_id(i), "name": g} for i, g in enumerate(mailbox_names()[:n])]


@dataclass
class FakeHelpScout:
    """The API over the log at ``clock()``; token life and the per-minute limit adjustable."""

    clock: Callable[[], datetime]
    token_life: float = 172800.0
    announced_life: float | None = None
    """What ``expires_in`` says, when the server drops tokens earlier than it announces."""
    per_minute: int = 1_000_000
    storm: tuple[datetime, datetime] | None = None
    """While the clock is in ``[start, end)`` every API request gets 429 with
    ``X-RateLimit-Retry-After`` up to the end."""
    unlisted: set[str] = field(default_factory=set)
    """Conversations (log ids) the ``modifiedSince`` listing never shows, as a change
    Help Scout makes without it reaching that listing (the mirror's drift)."""
    log: TicketLog = field(default_factory=helpscout_log)
    tokens: dict[str, datetime] = field(default_factory=dict)
    minute_calls: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        if call.path == "/v2/oauth2/token":
            return self._token(call)
        auth = call.headers.get("Authorization", "")
        expires = self.tokens.get(auth.removeprefix("Bearer "))
        if not auth.startswith("Bearer ") or expires is None or self.clock() >= expires:
            return Reply(401, {"error": "invalid_token", "message": "token expired"})
        if self.storm is not None and self.storm[0] <= self.clock() < self.storm[1]:
            wait = (self.storm[1] - self.clock()).total_seconds()
            return Reply(429, {"message": "Too many requests"}, self._retry(wait))
        minute = self.clock().strftime("%Y%m%d%H%M")
        used = self.minute_calls.get(minute, 0)
        if used >= self.per_minute:
            return Reply(
                429, {"message": "Too many requests"}, self._retry(60 - self.clock().second)
            )
        self.minute_calls[minute] = used + 1
        quota = {
            "X-RateLimit-Limit-Minute": str(self.per_minute),
            "X-RateLimit-Remaining-Minute": str(self.per_minute - used - 1),
        }
        folders = re.fullmatch(r"/v2/mailboxes/(\d+)/folders", call.path)
        if folders is not None:
            return self._folders(int(folders.group(1)), quota)
        if call.path == "/v2/conversations":
            return self._conversations(call, quota)
        return Reply(404, {"message": "Not found"}, quota)

    def _retry(self, seconds: float) -> dict[str, str]:
        return {"X-RateLimit-Retry-After": f"{max(1.0, seconds):.0f}"}

    def _token(self, call: Call) -> Reply:
        form = call.form()
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != SECRET
        ):
            return Reply(401, {"error": "invalid_client"})
        token = f"hs-access-{len(self.tokens)}"
        self.tokens[token] = self.clock() + timedelta(seconds=self.token_life)
        announced = self.announced_life or self.token_life
        return Reply(200, {"token_type": "bearer", "access_token": token, "expires_in": announced})

    def _state(self) -> pd.DataFrame:
        return self.log.state_at(self.clock())

    def _folders(self, box: int, quota: dict[str, str]) -> Reply:
        names = mailbox_names()
        rank = box - mailbox_id(0)
        if not 0 <= rank < len(names):
            return Reply(404, {"message": "Mailbox not found"}, quota)
        mine = self.log.queue_state_at(self.clock(), names[rank])
        open_ = mine[~mine["done"]]
        unassigned = open_[open_["assignee"] == "?"]
        assigned = open_[open_["assignee"] != "?"]

        def folder(i: int, kind: str, rows: pd.DataFrame, user: int = 0) -> dict[str, Any]:
            active = int((rows["status"] == "active").sum())
            return {
                "id": 1000 * box + i,
                "name": kind.title(),
                "type": kind,
                "userId": user,
                "totalCount": len(rows),
                "activeCount": active,
                "updatedAt": "2016-01-01T00:00:00Z",
            }

        found = [
            folder(0, "open", unassigned),
            folder(1, "assigned", assigned),
            {**folder(2, "closed", mine[mine["done"]]), "activeCount": 0},
            folder(3, "spam", mine.iloc[0:0]),
        ]
        for i, (who, rows) in enumerate(assigned.groupby("assignee", sort=True)):
            found.append(folder(10 + i, "mytickets", rows, user_ids()[str(who)]))
        return Reply(200, {"_embedded": {"folders": found}, "page": {"size": 50}}, quota)

    def _conversations(self, call: Call, quota: dict[str, str]) -> Reply:
        status = call.arg("status", "active") or "active"
        if status not in SELECT:
            return Reply(400, {"message": f"invalid status {status}"}, quota)
        state = self._state()
        state = state[state["status"].isin(SELECT[status])]
        boxes = call.arg("mailbox")
        names = mailbox_names()
        if boxes:
            ranks = [int(b) - mailbox_id(0) for b in boxes.split(",")]
            wanted = [names[r] for r in ranks if 0 <= r < len(names)]  # others match nothing
            state = state[state["queue"].isin(wanted)]
        since = call.arg("modifiedSince")
        if since:
            state = state[state["modified"] >= pd.Timestamp(since)]
            state = state[~state["id"].isin(self.unlisted)]
        query = call.arg("query")
        if query:
            match = RANGE.match(query)
            if match is None:
                return Reply(400, {"message": "invalid query"}, quota)
            column = "created" if match.group(1) == "createdAt" else "modified"
            low, high = match.group(2), match.group(3)
            if low != "*":
                state = state[state[column] >= pd.Timestamp(low)]
            if high != "*":
                state = state[state[column] <= pd.Timestamp(high)]
        sort = {"createdAt": "created", "modifiedAt": "modified"}.get(
            call.arg("sortField", "createdAt") or "", "created"
        )
        asc = (call.arg("sortOrder") or "desc") == "asc"
        state = state.sort_values([sort, "id"], ascending=[asc, True])
        number = int(call.arg("page", "1") or 1)
        rows = state.iloc[(number - 1) * PAGE : number * PAGE]
        pages = (len(state) + PAGE - 1) // PAGE
        links: dict[str, Any] = {"self": {"href": f"/v2/conversations?page={number}"}}
        if number < pages:  # the documented bug: every other parameter is dropped
            links["next"] = {
                "href": f"https://api.helpscout.net/v2/conversations?page={number + 1}"
            }
        body = {
            "_embedded": {"conversations": [self._item(row) for row in rows.itertuples()]},
            "_links": links,
            "page": {
                "size": PAGE,
                "totalElements": len(state),
                "totalPages": pages,
                "number": number,
            },
        }
        return Reply(200, body, quota)

    def _item(self, row: Any) -> dict[str, Any]:
        user = user_ids().get(str(row.assignee))
        return {
            "id": int(str(row.id).removeprefix("INC")),
            "number": int(str(row.id).removeprefix("INC")),
            "status": row.status,
            "state": "published",
            "mailboxId": mailbox_ids().get(str(row.queue), NO_MAILBOX),
            "assignee": None if user is None else {"id": user, "first": "Agent", "last": str(user)},
            "createdAt": row.created.strftime(TIME),
            "closedAt": None if pd.isna(row.resolved) else row.resolved.strftime(TIME),
            "userUpdatedAt": row.modified.strftime(TIME),
        }


def expected_extras(log: TicketLog, config: Any, window: Window, queue: QueueStats) -> QueueStats:
    """Unassigned and per-agent open counts of one mailbox, computed with pandas."""
    state = log.state_at(window.end)
    open_ = state[(state["queue"] == queue.queue) & ~state["done"]]
    per_agent = open_[open_["assignee"] != "?"].groupby("assignee").size()
    loads = sorted(
        ((int(n), str(user_ids()[str(a)])) for a, n in per_agent.items()),
        key=lambda load: (-load[0], load[1]),
    )
    agents = [AgentLoad(name, n, None) for n, name in loads[: config.max_agents]]
    if loads[config.max_agents :]:
        agents.append(AgentLoad("other", sum(n for n, _ in loads[config.max_agents :]), None))
    top, median, share = spread(n for n, _ in loads)
    workload = QueueWorkload(
        agents=tuple(agents),
        agents_with_work=len(loads),
        load_max=top,
        load_median=median,
        busiest_share=share,
    )
    unassigned = int((open_["assignee"] == "?").sum())
    return QueueStats(**{**queue.__dict__, "unassigned": unassigned, "workload": workload})


class Kit:
    """What the case harness needs to run a Help Scout case."""

    secrets = (SECRET,)
    environment = {"HELPSCOUT_CLIENT_SECRET": SECRET}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeHelpScout:
        return FakeHelpScout(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "helpscout",
            "name": "helpscout",
            "base_url": url,
            "client_id": CLIENT_ID,
            "client_secret_env": "HELPSCOUT_CLIENT_SECRET",
            "mailboxes": mailboxes(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(m.name, m.name) for m in config.mailboxes]

    def log(self) -> TicketLog:
        return helpscout_log()

    def expected(self, config: Any, window: Window, queue: QueueStats) -> QueueStats:
        return expected_extras(self.log(), config, window, queue)
