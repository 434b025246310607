"""A fake ServiceNow Aggregate API fed from the ServiceNow incident log (UCI), natively.

The log is a ServiceNow instance's own audit: assignment groups, states and priorities
are its display values. State numbers follow ServiceNow's incident states: New 1, Active
(In Progress) 2, the Awaiting states 3 (On Hold), Resolved 6, Closed 7; ``active`` is
false once Closed (a Resolved incident stays active, as in ServiceNow).

``GET /api/now/stats/incident`` reads an encoded ``sysparm_query`` (``^`` AND, ``^OR``
OR with the clause before; ``=``, ``!=``, ``IN``, ``NOT IN``, ``>=``, ``<`` on the fields
the collector uses), groups by ``sysparm_group_by`` and answers ``{"result": [{"stats":
{"count": "N", "min": {"opened_at": ...}}, "groupby_fields": [{"field", "value",
"display_value"}]}]}``; date-times in the user's time zone (``zone``). For the
workload figures it also groups by ``assigned_to`` and ``category`` (an empty field, the
log's ``?``, is the display value ``""``), filters on ``sys_updated_on`` (the log's
``sys_updated_at``: each ticket's latest event) and ``reopen_count``, and answers
``sysparm_min_fields`` (``opened_at``, ``sys_updated_on``) as ``stats.min.<field>`` and
``sysparm_sum_fields=reassignment_count`` as ``stats.sum.<field>``, from each ticket's
latest event before the instant. ``GET /api/now/table/incident`` answers the stale
list: the query's tickets ordered by ``ORDERBY`` clauses (``sys_updated_on``, ``number``),
``sysparm_limit`` of them, ``number, state, assigned_to, sys_updated_on`` as display
values without reference links (an empty assignee is ``""``). Requests are
counted per minute (``minute_calls``); throughout ``storm`` a rate-limit rule answers
429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.hostedworkload import expected_workloads
from tests.collectors.stores.incidents import group_names, incident_events
from tests.collectors.stores.storm import Storm, count_minute, storm_wait
from tests.collectors.ticketlog import TicketLog

NUMBERS = {
    "New": 1,
    "Active": 2,
    "-100": 2,
    "Awaiting User Info": 3,
    "Awaiting Vendor": 3,
    "Awaiting Problem": 3,
    "Awaiting Evidence": 3,
    "Resolved": 6,
    "Closed": 7,
}
USER = "svc.backlog"
PASSWORD = "PLANTED-servicenow-password-77e1"
CLAUSE = re.compile(r"^([a-z_.]+?)(NOT IN|IN|!=|>=|<=|=|<|>)(.*)$")


@cache
def incident_log() -> TicketLog:
    """The ServiceNow incidents as they were in their instance."""
    events = incident_events()
    done = events["status"].isin(["Resolved", "Closed"])
    return TicketLog(
        events.assign(label=events["status"], done=done),
        carry=("assignee", "category", "reassignments", "reopens"),
    )


@dataclass
class FakeServiceNow:
    """The Aggregate API over the log at ``clock()``."""

    clock: Callable[[], datetime]
    zone: str = "UTC"
    log: TicketLog = field(default_factory=incident_log)
    storm: Storm | None = None
    minute_calls: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if call.headers.get("Authorization") != f"Basic {pair}":
            return Reply(401, {"error": {"message": "User Not Authenticated"}, "status": "failure"})
        now = self.clock()
        wait = storm_wait(self.storm, now)
        if wait is not None:  # a rate-limit rule's 429: the reset as epoch and Retry-After
            reset = str(int(now.timestamp()) + wait)
            headers = {"Retry-After": str(wait), "X-RateLimit-Reset": reset}
            body = {"error": {"message": "Rate limit exceeded"}, "status": "failure"}
            return Reply(429, body, {**headers, "X-RateLimit-Remaining": "0"})
        count_minute(self.minute_calls, now)
        if call.path not in ("/api/now/stats/incident", "/api/now/table/incident"):
            return Reply(400, {"error": {"message": "Invalid table"}, "status": "failure"})
        state = self.log.state_at(self.clock())
        state = state.assign(
            number=state["status"].map(NUMBERS), active=state["status"] != "Closed"
        )
        if call.path == "/api/now/table/incident":
            return self._table(call, state)
        try:
            found = state[self._query(state, call.arg("sysparm_query") or "")]
        except ValueError as err:
            return Reply(400, {"error": {"message": str(err)}, "status": "failure"})
        columns = {
            "assignment_group": "queue",
            "state": "status",
            "priority": "priority",
            "assigned_to": "assignee",
            "category": "category",
        }
        names = (call.arg("sysparm_group_by") or "").split(",")
        by = [columns[f] for f in names]
        found = found.assign(
            assignee=found["assignee"].replace("?", ""),
            category=found["category"].replace("?", ""),
        )
        dated = {"opened_at": "created", "sys_updated_on": "modified"}
        summed = {"reassignment_count": "reassignments"}
        mins = [f for f in (call.arg("sysparm_min_fields") or "").split(",") if f]
        sums = [f for f in (call.arg("sysparm_sum_fields") or "").split(",") if f]
        result = []
        for key, rows in found.groupby(by):
            values = key if isinstance(key, tuple) else (key,)
            stats: dict[str, Any] = {"count": str(len(rows))}
            if mins:
                stats["min"] = {
                    f: rows[dated[f]].min().tz_convert(self.zone).strftime("%Y-%m-%d %H:%M:%S")
                    for f in mins
                }
            if sums:
                stats["sum"] = {f: str(int(rows[summed[f]].sum())) for f in sums}
            fields = [
                {"field": f, "value": f"sys-{v}" if v else "", "display_value": str(v)}
                for f, v in zip(names, values, strict=True)
            ]
            result.append({"stats": stats, "groupby_fields": fields})
        return Reply(200, {"result": result}, {"X-RateLimit-Remaining": "500"})

    def _table(self, call: Call, state: pd.DataFrame) -> Reply:
        parts = (call.arg("sysparm_query") or "").split("^")
        order = [p.removeprefix("ORDERBY") for p in parts if p.startswith("ORDERBY")]
        query = "^".join(p for p in parts if not p.startswith("ORDERBY"))
        if order != ["sys_updated_on", "number"] or call.arg("sysparm_display_value") != "true":
            return Reply(400, {"error": {"message": "unsupported order"}, "status": "failure"})
        try:
            found = state[self._query(state, query)]
        except ValueError as err:
            return Reply(400, {"error": {"message": str(err)}, "status": "failure"})
        found = found.sort_values(["modified", "id"]).head(int(call.arg("sysparm_limit") or 10))
        result = [
            {
                "number": row.id,
                "state": row.status,
                "assigned_to": "" if row.assignee == "?" else row.assignee,
                "sys_updated_on": row.modified.tz_convert(self.zone).strftime("%Y-%m-%d %H:%M:%S"),
            }
            for row in found.itertuples()
        ]
        return Reply(200, {"result": result}, {"X-RateLimit-Remaining": "500"})

    def _query(self, state: pd.DataFrame, query: str) -> pd.Series:
        keep = pd.Series(True, index=state.index)
        branch: pd.Series | None = None
        for part in query.split("^"):
            is_or = part.startswith("OR")
            test = self._clause(state, part.removeprefix("OR") if is_or else part)
            if is_or and branch is not None:
                branch = branch | test
                continue
            if branch is not None:
                keep &= branch
            branch = test
        return keep & branch if branch is not None else keep

    def _clause(self, state: pd.DataFrame, clause: str) -> pd.Series:
        match = CLAUSE.match(clause)
        if match is None:
            raise ValueError(f"unreadable clause {clause!r}")
        name, op, value = match.groups()
        if name == "assignment_group.name" and op == "IN":
            return state["queue"].isin(value.split(","))
        if name == "assignment_group.name" and op == "=":
            return state["queue"] == value
        if name == "active" and op in ("=", "!="):
            return state["active"] == ((value == "true") == (op == "="))
        if name == "state" and op in ("IN", "NOT IN"):
            inside = state["number"].isin([int(v) for v in value.split(",")])
            return inside if op == "IN" else ~inside
        if name == "reopen_count" and op == ">":
            return state["reopens"] > int(value)
        if name in ("opened_at", "resolved_at", "sys_updated_on") and op in (">=", "<"):
            column = state[
                {"opened_at": "created", "resolved_at": "resolved"}.get(name, "modified")
            ]
            bound = pd.Timestamp(value).tz_localize(self.zone)
            return (column >= bound if op == ">=" else column < bound).fillna(False).astype(bool)
        raise ValueError(f"unsupported clause {clause!r}")


class Kit:
    """What the case harness needs to run a ServiceNow case."""

    secrets = (PASSWORD,)
    priorities = True  # open tickets are grouped by state and priority
    aging = True
    environment = {"SERVICENOW_PASSWORD": PASSWORD}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeServiceNow:
        return FakeServiceNow(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "servicenow",
            "name": "servicenow",
            "base_url": url,
            "username": USER,
            "password_env": "SERVICENOW_PASSWORD",
            "assignment_groups": group_names(incident_log())[: int(case.get("queues", 20))],
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(g, g) for g in config.assignment_groups]

    def log(self) -> TicketLog:
        return incident_log()

    def expected(self, config: Any, window: Any, queue: QueueStats) -> QueueStats:
        """With a ``workload`` section, the queue's workload figures (pandas)."""
        if config.workload is None:
            return queue
        figures = expected_workloads(
            self.log(),
            config.assignment_groups,
            window.start,
            window.end,
            config.workload,
            list_waiting=False,  # display-value statuses: not filtered by the Table API
        )
        return QueueStats(**{**queue.__dict__, "workload": figures[queue.queue]})
