"""A fake Zendesk fed from the ServiceNow incident log (UCI).

Mapping: a group is the incident's ``assignment_group``; the Zendesk status follows the
incident state (New: new, Active: open, Awaiting User Info: pending, the other Awaiting
states: hold, Resolved: solved, Closed: closed; the log's few ``-100`` states: open).
Event times are the log's ``sys_updated_at``, creation its ``opened_at`` (minute
precision, read as UTC). Group ids
are the groups' ranks in the log.

The API part: ``GET /api/v2/search/count`` and ``/api/v2/search.json`` with the query
terms the collector uses (``type: group: status: status< created>= created< solved>=
solved<``; an unknown term is a 400 as Zendesk's invalid query), Basic
``email/token:TOKEN`` authentication, ``X-Rate-Limit-Remaining`` on every answer (the
account's per-minute allowance counted down) and 429 with ``Retry-After`` when spent,
or throughout ``storm``.
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

from tests.collectors.fakeserver import Call, Reply
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
        events.assign(status=status, label=status, done=status.isin(["solved", "closed"]))
    )


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
            elif key in ("created", "solved"):
                column = state["created"] if key == "created" else state["resolved"]
                state = state[_compare(column, op, pd.Timestamp(value))]
            else:
                raise ValueError(f"unknown term {key!r}")
        return state

    def _results(self, call: Call, found: pd.DataFrame, quota: dict[str, str]) -> Reply:
        per_page = int(call.arg("per_page", "100") or 100)
        if call.arg("sort_by") != "created_at" or per_page > 100:
            return Reply(400, {"error": "InvalidQuery"}, quota)
        ordered = found.sort_values(["created", "id"], ascending=call.arg("sort_order") == "asc")
        results = [
            {
                "id": i,
                "result_type": "ticket",
                "status": row.status,
                "created_at": row.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for i, row in enumerate(ordered.head(min(per_page, 1000)).itertuples())
        ]
        return Reply(200, {"results": results, "count": len(found), "next_page": None}, quota)


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
