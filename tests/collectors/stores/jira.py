"""A fake Jira (Cloud or Data Center) fed from the Italian help-desk log (4TU).

Mapping: project ``HD``; a ticket's component is the resource of its first event (who
triaged it); the status follows the latest activity (Assign seriousness and Insert
ticket: Waiting for support; Take in charge ticket and Resolve SW anomaly: In Progress;
Wait: Waiting for customer; Require upgrade and Schedule intervention: Pending; Create
SW anomaly: Escalated; Resolve ticket, RESOLVED and VERIFIED: Resolved; Closed, INVALID
and DUPLICATE: Closed). Resolved and Closed are the Done category.

The API part: ``POST /rest/api/3/search/approximate-count`` (``{"count"}``; unbounded JQL
is a 400, as on Cloud), ``GET /rest/api/3/search/jql`` (``issues``, ``isLast``,
``nextPageToken``, no ``total``) and Data Center's ``GET /rest/api/2/search``
(``total``); Cloud takes Basic email:token, Data Center a Bearer personal access token.
For the workload figures it also filters on ``updated`` (each issue's latest event),
orders by ``updated ASC``, answers the ``updated`` and ``assignee`` fields, and serves
Cloud's ``POST /rest/api/3/changelog/bulkfetch``: an issue is unassigned (``null``)
until its first "Take in charge ticket" event (the triage before it, "Assign
seriousness", is no assignment), then its assignee is the resource of its latest event
(an ``assignee`` item each time it changes, from ``null`` for the first assignment; an
issue taken in charge at its first event was created assigned: no item), and its
``resolution`` is set (``Done``) when it enters a Done status and cleared when it leaves
one (reopened). Bulk changelog pages hold ``maxResults`` histories (at most
``changelog_page``), an issue's histories going on over the next page, with
``nextPageToken`` null on the last. Issue ids are the case numbers
(``Case3608``: ``3608``); search pages continue with ``nextPageToken`` (an offset). JQL dates
(``"yyyy-MM-dd HH:mm"``) are read in the user's time zone (``zone``). Requests
are counted per minute (``minute_calls``); throughout ``storm`` every request gets 429
with ``Retry-After``.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats
from collectors.workload import Routing
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.hostedworkload import Names, expected_workloads
from tests.collectors.stores.storm import Storm, count_minute, storm_wait
from tests.collectors.ticketlog import TicketLog
from tests.data import HELPDESK_LOG

STATUSES = {
    "Assign seriousness": "Waiting for support",
    "Insert ticket": "Waiting for support",
    "Take in charge ticket": "In Progress",
    "Resolve SW anomaly": "In Progress",
    "Wait": "Waiting for customer",
    "Require upgrade": "Pending",
    "Schedule intervention": "Pending",
    "Create SW anomaly": "Escalated",
    "Resolve ticket": "Resolved",
    "RESOLVED": "Resolved",
    "VERIFIED": "Resolved",
    "Closed": "Closed",
    "INVALID": "Closed",
    "DUPLICATE": "Closed",
}
OPEN_STATUSES = ["Waiting for support", "In Progress", "Waiting for customer", "Pending"]
"""What the cases configure: Escalated is left out, so it shows as ``(other)``."""
EMAIL = "monitor@example.com"
TOKEN = "PLANTED-jira-token-41aa"
UNASSIGNED = "?"
"""The log's assignee before the issue is taken in charge (Jira's ``assignee: null``)."""
CLAUSE = re.compile(r'^(\w+)\s*(!=|>=|<=|=|<|>)\s*"?([^"]*)"?$')


@cache
def helpdesk_log() -> TicketLog:
    """The Italian help desk's tickets as Jira issues."""
    raw = pd.read_csv(HELPDESK_LOG, dtype=str, keep_default_na=False)
    at = pd.to_datetime(raw["time:timestamp"], utc=True)
    ordered = raw.assign(at=at).sort_values("at", kind="stable")
    case = ordered["case:concept:name"]
    component = ordered.groupby(case)["Resource"].transform("first")
    # unassigned until someone takes the ticket in charge (the triage before is no assignment)
    taken = (ordered["Activity"] == "Take in charge ticket").groupby(case).cummax()
    status = ordered["Activity"].map(STATUSES)
    label = status.where(status.isin(OPEN_STATUSES), "(other)")
    return TicketLog(
        pd.DataFrame(
            {
                "id": ordered["case:concept:name"],
                "at": ordered["at"],
                "queue": component,
                "status": status,
                "label": label.where(~status.isin(["Resolved", "Closed"]), status),
                "priority": "",
                "done": status.isin(["Resolved", "Closed"]),
                "assignee": ordered["Resource"].where(taken, UNASSIGNED),
            }
        ),
        carry=("assignee",),
    )


def _fields(row: Any, wanted: list[str]) -> dict[str, Any]:
    """An issue's ``fields`` as asked: dates, status ``{name}``, assignee
    ``{displayName}`` (the resource of its latest event)."""
    out: dict[str, Any] = {
        name: getattr(row, column).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for name, column in (("created", "created"), ("updated", "modified"))
        if name in wanted
    }
    if "status" in wanted:
        out["status"] = {"name": row.status}
    if "assignee" in wanted:
        out["assignee"] = _user(row.assignee)
    return out


def _user(assignee: str) -> dict[str, str] | None:
    """A user as Jira gives one (``null`` for unassigned)."""
    if assignee == UNASSIGNED:
        return None
    return {"displayName": assignee, "accountId": f"acc-{assignee}"}


def components(n: int) -> list[str]:
    counts = helpdesk_log().events.groupby("queue")["id"].nunique()
    return [str(c) for c in counts.sort_values(ascending=False, kind="stable").index[:n]]


@dataclass
class FakeJira:
    """Jira's search over the log at ``clock()``."""

    clock: Callable[[], datetime]
    deployment: str = "cloud"
    zone: str = "UTC"
    log: TicketLog = field(default_factory=helpdesk_log)
    storm: Storm | None = None
    minute_calls: dict[str, int] = field(default_factory=dict)
    changelog_page: int = 1000
    """The most histories a bulk changelog page holds, whatever ``maxResults`` asks."""

    def __call__(self, call: Call) -> Reply:
        if call.headers.get("Authorization") != self._expected_auth():
            return Reply(401, {"errorMessages": ["You are not authenticated."]})
        now = self.clock()
        wait = storm_wait(self.storm, now)
        if wait is not None:  # Cloud's 429: Retry-After, the reset instant and the reason
            headers = {"Retry-After": str(wait), "X-RateLimit-Remaining": "0"}
            headers["RateLimit-Reason"] = "jira-quota-tenant-based"
            return Reply(429, {"errorMessages": ["Rate limit exceeded."]}, headers)
        count_minute(self.minute_calls, now)
        cloud = self.deployment == "cloud"
        if cloud and call.path == "/rest/api/3/search/approximate-count" and call.method == "POST":
            jql = (call.json() or {}).get("jql", "")
            if "project" not in jql:
                return Reply(
                    400, {"errorMessages": ["Unbounded JQL queries are not allowed here."]}
                )
            return self._answer(jql, lambda found: {"count": len(found)})
        if cloud and call.path == "/rest/api/3/changelog/bulkfetch" and call.method == "POST":
            return self._changelogs(call.json() or {})
        if cloud and call.path == "/rest/api/3/search/jql":
            return self._answer(call.arg("jql") or "", lambda found: self._page(call, found, False))
        if not cloud and call.path == "/rest/api/2/search":
            return self._answer(call.arg("jql") or "", lambda found: self._page(call, found, True))
        return Reply(404, {"errorMessages": ["Not found"]})

    def _expected_auth(self) -> str:
        if self.deployment == "datacenter":
            return f"Bearer {TOKEN}"
        return "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()

    def _answer(self, jql: str, shape: Callable[[pd.DataFrame], Any]) -> Reply:
        try:
            found = self._search(jql)
        except ValueError as err:
            return Reply(400, {"errorMessages": [str(err)]})
        return Reply(200, shape(found), {"X-RateLimit-Remaining": "1000"})

    def _search(self, jql: str) -> pd.DataFrame:
        component = re.search(r'\bcomponent = "([^"]*)"', jql)
        if component is None:
            state = self.log.state_at(self.clock())
        else:
            state = self.log.queue_state_at(self.clock(), component.group(1))
        where, _, order = jql.partition(" ORDER BY ")
        orders = {"created ASC": "created", "updated ASC": "modified"}
        if order and order.strip() not in orders:
            raise ValueError(f"unsupported order {order!r}")
        for clause in where.split(" AND "):
            match = CLAUSE.match(clause.strip().strip("()"))
            if match is None:
                raise ValueError(f"Error in the JQL Query: {clause!r}")
            key, op, value = match.groups()
            state = state[self._test(state, key, op, value)]
        return state.sort_values([orders.get(order.strip(), "created"), "id"])

    def _test(self, state: pd.DataFrame, key: str, op: str, value: str) -> pd.Series:
        if key == "project":
            return pd.Series(value == "HD", index=state.index)
        if key == "component" and op == "=":
            return state["queue"] == value
        if key == "status" and op == "=":
            return state["status"] == value
        if key == "statusCategory" and value == "Done":
            return state["done"] if op == "=" else ~state["done"]
        if key in ("created", "resolved", "updated"):
            bound = pd.Timestamp(value).tz_localize(self.zone)
            column = state[{"created": "created", "resolved": "resolved"}.get(key, "modified")]
            result = {">=": column >= bound, "<": column < bound, ">": column > bound}[op]
            return result.fillna(False).astype(bool)
        raise ValueError(f"Field {key!r} does not exist or you do not have permission")

    def _page(self, call: Call, found: pd.DataFrame, with_total: bool) -> dict[str, Any]:
        size = int(call.arg("maxResults", "50") or 50)
        first = int((call.arg("nextPageToken") or "offset-0").removeprefix("offset-"))
        wanted = (call.arg("fields") or "created").split(",")
        issues = [
            {
                "id": row.id.removeprefix("Case"),
                "key": f"HD-{row.id.removeprefix('Case')}",
                "fields": _fields(row, wanted),
            }
            for row in found.iloc[first : first + size].itertuples()
        ]
        if with_total:
            return {"startAt": 0, "maxResults": size, "total": len(found), "issues": issues}
        last = len(found) <= first + size
        page: dict[str, Any] = {"issues": issues, "isLast": last}
        if not last:
            page["nextPageToken"] = f"offset-{first + size}"
        return page

    def _changelogs(self, body: dict[str, Any]) -> Reply:
        """The assignee and resolution histories of the issues asked for, up to the
        instant, ``maxResults`` histories a page (capped), offset tokens, ``null`` on the
        last page."""
        ids = [f"Case{i}" for i in body.get("issueIdsOrKeys", [])]
        if not ids or len(ids) > 1000:
            return Reply(400, {"errorMessages": ["Provide 1 to 1000 issue ids or keys."]})
        fields = set(body.get("fieldIds") or ["assignee", "resolution"])
        events = self.log.events[self.log.events["at"] < pd.Timestamp(self.clock())]
        mine = events[events["id"].isin(ids)]
        logs = []
        for issue, rows in mine.groupby("id", sort=True):
            histories = []
            previous = None
            for n, row in enumerate(rows.itertuples()):
                items = []
                if previous is not None and row.assignee != previous.assignee:
                    items.append(("assignee", previous.assignee, row.assignee))
                if previous is not None and row.done != previous.done:
                    items.append(
                        ("resolution", None, "Done") if row.done else ("resolution", "Done", None)
                    )
                shown = [_item(f, a, b) for f, a, b in items if f in fields]
                if shown:
                    created = row.at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
                    histories.append({"id": f"{issue}-{n}", "created": created, "items": shown})
                previous = row
            logs.append({"issueId": str(issue).removeprefix("Case"), "changeHistories": histories})
        # ``maxResults`` histories a page (at most ``changelog_page``, the server's own cap),
        # in issue order: an issue's histories may go on over the next page; an issue
        # with none has no entry
        entries = [(log["issueId"], h) for log in logs for h in log["changeHistories"]]
        first = int(str(body.get("nextPageToken") or "offset-0").removeprefix("offset-"))
        size = min(int(body.get("maxResults") or 1000), self.changelog_page)
        page: list[dict[str, Any]] = []
        for issue_id, history in entries[first : first + size]:
            if not page or page[-1]["issueId"] != issue_id:
                page.append({"issueId": issue_id, "changeHistories": []})
            page[-1]["changeHistories"].append(history)
        more = first + size < len(entries)
        token = f"offset-{first + size}" if more else None
        return Reply(200, {"issueChangeLogs": page, "nextPageToken": token})


def _item(field: str, before: str | None, after: str | None) -> dict[str, Any]:
    """A changelog item: users by account id (``from``/``to``) and display name
    (``fromString``/``toString``), ``null`` for unassigned; other fields by value."""
    if field != "assignee":
        return {
            "field": field,
            "fieldId": field,
            "from": before,
            "fromString": before,
            "to": after,
            "toString": after,
        }
    was, now = _user(str(before)), _user(str(after))
    return {
        "field": field,
        "fieldId": field,
        "from": was and was["accountId"],
        "fromString": was and was["displayName"],
        "to": now and now["accountId"],
        "toString": now and now["displayName"],
    }


class Kit:
    """What the case harness needs to run a Jira case."""

    secrets = (TOKEN,)
    environment = {"JIRA_TOKEN": TOKEN}

    changelog_page = 1000

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeJira:
        self.changelog_page = int(quirks.get("changelog_page", 1000))  # for expected()
        return FakeJira(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "jira",
            "name": "jira",
            "base_url": url,
            "email": EMAIL,
            "token_env": "JIRA_TOKEN",
            "statuses": OPEN_STATUSES,
            "queues": [
                {"name": c, "jql": f'project = HD AND component = "{c}"'}
                for c in components(int(case.get("queues", 7)))
            ],
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(q.name, q.name) for q in config.queues]

    def log(self) -> TicketLog:
        return helpdesk_log()

    def expected(self, config: Any, window: Any, queue: QueueStats) -> QueueStats:
        """With a ``workload`` section, the queue's stale, waiting and routing figures
        (pandas)."""
        w = config.workload
        if w is None:
            return queue
        names = [q.name for q in config.queues]  # a queue is named after its component
        without = w.model_copy(update={"routing": False})
        keys = Names(ticket=lambda case: f"HD-{case.removeprefix('Case')}")
        figures = expected_workloads(
            self.log(), names, window.start, window.end, without, names=keys
        )
        workload = figures[queue.queue]
        if w.routing:
            routing = expected_routing(
                self.log(), queue.queue, window, config.workload_pages, self.changelog_page
            )
            workload = replace(workload, routing=routing)
        return QueueStats(**{**queue.__dict__, "workload": workload})


def expected_routing(
    log: TicketLog, queue: str, window: Any, pages: int, page_size: int = 1000
) -> Routing | None:
    """Issues of ``queue`` resolved in the window: how often their assignee changed from
    one resource to another (reassignments), how many left a Done status after entering
    one (reopened), and the wait from each one's first event to its first assigned event
    (0 when assigned at the first; none when never assigned); None when their ids take
    more than ``pages`` pages of 100, or their histories (events after the first that
    change the assignee or the Done state) more than ``pages`` pages of ``page_size``."""
    state = log.state_at(window.end)
    t0, t1 = pd.Timestamp(window.start), pd.Timestamp(window.end)
    done = state[(state["queue"] == queue) & state["done"]]
    done = done[(done["resolved"] >= t0) & (done["resolved"] < t1)]
    if len(done) > 100 * pages:
        return None
    events = log.events[(log.events["at"] < t1) & log.events["id"].isin(done["id"])]
    by_issue = events.groupby("id")
    previous = by_issue["assignee"].shift()
    moved = (events["assignee"] != previous) & (previous != UNASSIGNED)
    moved &= events["assignee"] != UNASSIGNED
    first = by_issue.cumcount() == 0
    left_done = ~events["done"] & by_issue["done"].shift(fill_value=False).astype(bool)
    changed = (events["assignee"] != previous) | (events["done"] != by_issue["done"].shift())
    if max(1, math.ceil((changed & ~first).sum() / page_size)) > pages:
        return None
    assigned = events[events["assignee"] != UNASSIGNED].groupby("id")["at"].first()
    created = by_issue["at"].first()
    waits = (assigned - created[assigned.index]).dt.total_seconds()
    return Routing(
        len(done),
        int((moved & ~first).sum()),
        int(left_done.groupby(events["id"]).any().sum()),
        None,
        len(waits),
        float(waits.sum()),
    )
