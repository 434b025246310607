"""A fake Zendesk fed from the ServiceNow incident log (UCI).

Mapping: a group is the incident's ``assignment_group``; the Zendesk status follows the
incident state (New: new, Active: open, Awaiting User Info: pending, the other Awaiting
states: hold, Resolved: solved, Closed: closed; the log's few ``-100`` states: open).
Event times are the log's ``sys_updated_at``, creation its ``opened_at`` (minute
precision, read as UTC). Group ids
are the groups' ranks in the log.

Ticket ids are the incident numbers' digits, assignee ids the resolvers' numbers.
Ticket Metrics (for the workload figures) come from the log up to the instant:
``reopens`` is the incident's ``reopen_count``;
``assignee_stations`` and ``group_stations`` are how many assignees and groups it has
had (each change to a different non-empty ``assigned_to`` / ``assignment_group`` is a
new station, the first one included); ``initially_assigned_at`` is the time of the
incident's first event with a non-empty ``assigned_to`` (null before it).

The API part: ``GET /api/v2/search/count`` and ``/api/v2/search.json`` with the query
terms the collector uses (``type: group: status: status< created>= created< solved>=
solved< updated<``; an unknown term is a 400 as Zendesk's invalid query; results sorted
by ``created_at`` or ``updated_at``, paged with ``page`` and ``next_page``),
``GET /api/v2/tickets/show_many.json?ids=...&include=metric_sets`` (at most 100 ids),
Basic
``email/token:TOKEN`` authentication, ``X-Rate-Limit-Remaining`` on every answer (the
account's per-minute allowance counted down) and 429 with ``Retry-After`` when spent,
or throughout ``storm``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats
from collectors.workload import QueueWorkload, Routing
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.hostedworkload import Names, expected_workloads
from tests.collectors.stores.incidents import group_id, group_names, incident_events
from tests.collectors.stores.storm import Storm, storm_wait
from tests.collectors.ticketlog import TicketLog

STATUSES = {
    "New": "new",
    "Active": "open",
    "-100": "open",
    "Awaiting User Info": "pending",
    "Awaiting Vendor": "hold",
    "Awaiting Problem": "hold",
    "Awaiting Evidence": "hold",
    "Resolved": "solved",
    "Closed": "closed",
}
ORDER = ["new", "open", "pending", "hold", "solved", "closed"]
EMAIL = "monitor@example.com"
TOKEN = "PLANTED-zendesk-token-9b2d"
TERM = re.compile(r"^(\w+)(>=|<=|:|<|>)(.+)$")


@cache
def servicenow_log() -> TicketLog:
    """The ServiceNow incidents as Zendesk tickets."""
    events = incident_events()
    status = events["status"].map(STATUSES)
    return TicketLog(
        events.assign(
            status=status,
            label=status,
            done=status.isin(["solved", "closed"]),
            assignee_stations=stations(events, "assignee"),
            group_stations=stations(events, "queue"),
            initially_assigned=first_assigned(events),
        ),
        carry=(
            "reopens",
            "assignee_stations",
            "group_stations",
            "assignee",
            "initially_assigned",
        ),
    )


def first_assigned(events: pd.DataFrame) -> pd.Series:
    """Per event, when the ticket first had a non-empty assignee, if it has by then
    (NaT before: the state keeps the latest non-null value)."""
    assigned = events["at"].where(events["assignee"] != "?")
    first = assigned.groupby(events["id"]).transform("min")
    return first.where(first <= events["at"])


def stations(events: pd.DataFrame, column: str) -> pd.Series:
    """Per event, how many different non-empty values of ``column`` the ticket has had
    in a row so far (a change back to an earlier value is a new station)."""
    ordered = events.sort_values(["id", "at"], kind="stable")
    value = ordered[column].where(ordered[column] != "?")
    before = value.groupby(ordered["id"]).ffill().groupby(ordered["id"]).shift()
    new = value.notna() & (value != before)
    return new.astype(int).groupby(ordered["id"]).cumsum().reindex(events.index)


def groups(n: int) -> list[dict[str, Any]]:
    return [{"id": group_id(i), "name": g} for i, g in enumerate(group_names(servicenow_log())[:n])]


@dataclass
class FakeZendesk:
    """The search API over the log at ``clock()``."""

    clock: Callable[[], datetime]
    per_minute: int = 1_000_000
    log: TicketLog = field(default_factory=servicenow_log)
    minute_calls: dict[str, int] = field(default_factory=dict)
    storm: Storm | None = None

    def __call__(self, call: Call) -> Reply:
        expected = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if call.headers.get("Authorization") != f"Basic {expected}":
            return Reply(401, {"error": "Couldn't authenticate you"})
        wait = storm_wait(self.storm, self.clock())
        if wait is not None:  # Zendesk's 429: the error name and Retry-After
            return Reply(429, {"error": "APIRateLimitExceeded"}, {"Retry-After": str(wait)})
        minute = self.clock().strftime("%Y%m%d%H%M")
        used = self.minute_calls.get(minute, 0)
        if used >= self.per_minute:
            return Reply(429, {"error": "APIRateLimitExceeded"}, {"Retry-After": "60"})
        self.minute_calls[minute] = used + 1
        quota = {"X-Rate-Limit": str(self.per_minute)}
        quota["X-Rate-Limit-Remaining"] = str(self.per_minute - used - 1)
        try:
            found = self._search(call.arg("query") or "")
        except ValueError as err:
            return Reply(400, {"error": "InvalidQuery", "description": str(err)}, quota)
        if call.path == "/api/v2/tickets/show_many.json":
            return self._show_many(call, quota)
        if call.path == "/api/v2/search/count":
            return Reply(200, {"count": len(found)}, quota)
        if call.path == "/api/v2/search.json":
            return self._results(call, found, quota)
        return Reply(404, {"error": "InvalidEndpoint"}, quota)

    def _search(self, query: str) -> pd.DataFrame:
        names = {str(group_id(i)): g for i, g in enumerate(group_names(self.log))}
        group = re.search(r"\bgroup:(\S+)", query)
        if group is None:
            state = self.log.state_at(self.clock())
        else:
            state = self.log.queue_state_at(self.clock(), names.get(group.group(1), ""))
        for term in query.split():
            match = TERM.match(term)
            if match is None:
                raise ValueError(f"cannot read {term!r}")
            key, op, value = match.groups()
            if key == "type" and value == "ticket":
                continue
            if key == "group" and op == ":":
                continue  # selected above
            if key == "status":
                rank = state["status"].map(ORDER.index)
                state = state[_compare(rank, op, ORDER.index(value))]
            elif key in ("created", "solved", "updated"):
                column = state[{"created": "created", "solved": "resolved"}.get(key, "modified")]
                state = state[_compare(column, op, pd.Timestamp(value))]
            else:
                raise ValueError(f"unknown term {key!r}")
        return state

    def _results(self, call: Call, found: pd.DataFrame, quota: dict[str, str]) -> Reply:
        per_page = int(call.arg("per_page", "100") or 100)
        page = int(call.arg("page", "1") or 1)
        sort = {"created_at": "created", "updated_at": "modified"}.get(call.arg("sort_by") or "")
        if sort is None or per_page > 100 or page * per_page > 1000:
            return Reply(400, {"error": "InvalidQuery"}, quota)
        ordered = found.sort_values([sort, "id"], ascending=call.arg("sort_order") == "asc")
        shown = ordered.iloc[(page - 1) * per_page : page * per_page]
        results = [
            {
                "id": ticket_id(row.id),
                "result_type": "ticket",
                "status": row.status,
                "created_at": row.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated_at": row.modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "assignee_id": agent_id(row.assignee),
            }
            for row in shown.itertuples()
        ]
        more = page * per_page < min(len(found), 1000)
        next_page = f"{call.path}?page={page + 1}" if more else None
        return Reply(200, {"results": results, "count": len(found), "next_page": next_page}, quota)

    def _show_many(self, call: Call, quota: dict[str, str]) -> Reply:
        ids = [int(i) for i in (call.arg("ids") or "").split(",") if i]
        if len(ids) > 100 or call.arg("include") != "metric_sets":
            return Reply(400, {"error": "InvalidValue"}, quota)
        state = self.log.state_at(self.clock())
        mine = state[state["id"].map(ticket_id).isin(ids)]
        tickets = [
            {"id": ticket_id(r.id), "status": r.status, "created_at": _iso(r.created)}
            for r in mine.itertuples()
        ]
        metric_sets = [
            {
                "id": 9_000_000 + ticket_id(r.id),
                "ticket_id": ticket_id(r.id),
                "reopens": int(r.reopens),
                "assignee_stations": int(r.assignee_stations),
                "group_stations": int(r.group_stations),
                "initially_assigned_at": (
                    None if pd.isna(r.initially_assigned) else _iso(r.initially_assigned)
                ),
            }
            for r in mine.itertuples()
        ]
        return Reply(200, {"tickets": tickets, "metric_sets": metric_sets}, quota)


def _iso(at: pd.Timestamp) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def agent_id(assignee: str) -> int | None:
    """A Zendesk user id: the resolver's number (``Resolver 13``: 13; ``?``: none)."""
    return None if assignee == "?" else int(assignee.rsplit(" ", 1)[-1])


COPY_STRIDE = 10_000_000
"""Ids of a replicated log's copies (``INC0000045#2``, benchmarks/collectors/http_poll.py)
start at ``copy * COPY_STRIDE``: above every incident number of the log."""


def ticket_id(number: str) -> int:
    """A Zendesk ticket id: the incident number's digits (``INC0000045``: 45); a copy's
    (``INC0000045#2``) is moved up by ``2 * COPY_STRIDE``."""
    base, _, copy = number.partition("#")
    return int(base[3:]) + (int(copy) * COPY_STRIDE if copy else 0)


def _compare(column: pd.Series, op: str, value: Any) -> pd.Series:
    operations = {
        ":": column == value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }
    return operations[op].fillna(False).astype(bool)


class Kit:
    """What the case harness needs to run a Zendesk case."""

    secrets = (TOKEN,)
    environment = {"ZENDESK_TOKEN": TOKEN}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeZendesk:
        return FakeZendesk(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "zendesk",
            "name": "zendesk",
            "base_url": url,
            "email": EMAIL,
            "token_env": "ZENDESK_TOKEN",
            "groups": groups(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(g.name, g.name) for g in config.groups]

    def log(self) -> TicketLog:
        return servicenow_log()

    def expected(self, config: Any, window: Any, queue: QueueStats) -> QueueStats:
        """With a ``workload`` section, the group's workload figures (pandas)."""
        if config.workload is None:
            return queue
        figures = expected_zendesk(self.log(), config, window)
        return QueueStats(**{**queue.__dict__, "workload": figures[queue.queue]})


def expected_zendesk(log: TicketLog, config: Any, window: Any) -> dict[str, QueueWorkload]:
    """Stale, waiting and routing figures from the log's state, computed with pandas:
    routing from the metric sets as documented (reassignments: assignee stations beyond
    the first; misrouted: more than one group station; time to first assignment: the
    first assignee's time minus the creation, at least 0, of the tickets ever assigned)."""
    w = config.workload
    names = [g.name for g in config.groups]
    lag = pd.Timedelta(config.index_lag)
    store_names = Names(
        ticket=lambda number: str(ticket_id(number)), agent=lambda a: str(agent_id(a))
    )
    without_routing = w.model_copy(update={"routing": False})
    figures = expected_workloads(
        log, names, window.start, window.end, without_routing, flow_lag=lag, names=store_names
    )
    if not w.routing:
        return figures
    state = log.state_at(window.end)
    f0, f1 = pd.Timestamp(window.start) - lag, pd.Timestamp(window.end) - lag
    out = {}
    for name in names:
        mine = state[(state["queue"] == name) & state["done"]]
        solved = mine[(mine["resolved"] >= f0) & (mine["resolved"] < f1)]
        routing = None
        if len(solved) <= 100 * config.workload_pages:
            assigned = solved[solved["initially_assigned"].notna()]
            waits = (assigned["initially_assigned"] - assigned["created"]).dt.total_seconds()
            routing = Routing(
                len(solved),
                int((solved["assignee_stations"] - 1).clip(lower=0).sum()),
                int((solved["reopens"] > 0).sum()),
                int((solved["group_stations"] > 1).sum()),
                len(assigned),
                float(waits.clip(lower=0).sum()),
            )
        out[name] = replace(figures[name], routing=routing)
    return out
