"""A fake Freshdesk fed from the ServiceNow incident log (UCI), as the fake Zendesk is.

Mapping: group = ``assignment_group``; status codes 2 Open (New, Active, -100), 3 Pending
(the Awaiting states), 4 Resolved, 5 Closed; ``stats.resolved_at`` is when the ticket last
became Resolved or Closed. Group ids are the groups' ranks in the log.

The API part: ``GET /api/v2/search/tickets?query="group_id:G AND status:S"`` (the query
quoted, as Freshdesk requires; ``total`` and the first 30 results), and
``GET /api/v2/tickets?updated_since=...&order_by=updated_at&order_type=asc&include=stats
&per_page=100&page=N`` (a ``Link`` header to the next page; ``per_page`` over 100 is a
400). The API key is the Basic user, ``X`` the password. ``X-Ratelimit-Total``,
``X-Ratelimit-Remaining`` and ``X-Ratelimit-Used-CurrentRequest`` on every answer (the
minute's requests counted in ``minute_calls``); throughout ``storm`` every request gets
429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.incidents import group_id, group_names
from tests.collectors.stores.storm import Storm, count_minute, storm_wait
from tests.collectors.stores.zendesk import servicenow_log
from tests.collectors.ticketlog import TicketLog

CODES = {"new": 2, "open": 2, "pending": 3, "hold": 3, "solved": 4, "closed": 5}
LABELS = {2: "Open", 3: "Pending"}
API_KEY = "PLANTED-freshdesk-key-c0de"
QUERY = re.compile(r'^"group_id:(\d+) AND status:(\d+)"$')


@cache
def freshdesk_log() -> TicketLog:
    """The ServiceNow incidents with Freshdesk's status codes."""
    events = servicenow_log().events.drop(columns=["enters_done"])
    code = events["status"].map(CODES)
    return TicketLog(events.assign(status=code, label=code.map(LABELS).fillna("")))


@cache
def group_ids(log: TicketLog) -> dict[str, int]:
    """Group name -> id."""
    return {g: group_id(i) for i, g in enumerate(group_names(log))}


def groups(n: int) -> list[dict[str, Any]]:
    return [{"id": group_id(i), "name": g} for i, g in enumerate(group_names(freshdesk_log())[:n])]


@dataclass
class FakeFreshdesk:
    """Freshdesk's search and list endpoints over the log at ``clock()``."""

    clock: Callable[[], datetime]
    log: TicketLog = field(default_factory=freshdesk_log)
    per_minute: int = 400
    storm: Storm | None = None
    minute_calls: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        pair = base64.b64encode(f"{API_KEY}:X".encode()).decode()
        if call.headers.get("Authorization") != f"Basic {pair}":
            return Reply(
                401, {"code": "invalid_credentials", "message": "You have to be logged in"}
            )
        wait = storm_wait(self.storm, self.clock())
        if wait is not None:  # Freshdesk's 429: Retry-After and the spent allowance
            headers = {"Retry-After": str(wait), "X-Ratelimit-Total": str(self.per_minute)}
            headers["X-Ratelimit-Remaining"] = "0"
            return Reply(429, {"message": "You have exceeded the limit of requests"}, headers)
        used = count_minute(self.minute_calls, self.clock())
        quota = {
            "X-Ratelimit-Total": str(self.per_minute),
            "X-Ratelimit-Remaining": str(max(0, self.per_minute - used - 1)),
            "X-Ratelimit-Used-CurrentRequest": "2" if call.arg("include") else "1",
        }
        if call.path == "/api/v2/search/tickets":
            reply = self._search(call)
        elif call.path == "/api/v2/tickets":
            reply = self._list(call)
        else:
            reply = Reply(404, {"code": "not_found"})
        return Reply(reply.status, reply.body, {**quota, **reply.headers})

    def _search(self, call: Call) -> Reply:
        match = QUERY.match(call.arg("query") or "")
        if match is None:
            return Reply(400, {"description": "Validation failed", "errors": [{"field": "query"}]})
        names = {group_id(i): g for i, g in enumerate(group_names(self.log))}
        rows = self.log.queue_state_at(self.clock(), names.get(int(match.group(1)), ""))
        found = rows[rows["status"] == int(match.group(2))]
        return Reply(
            200,
            {
                "total": len(found),
                "results": [_ticket(self.log, r) for r in found.head(30).itertuples()],
            },
        )

    def _list(self, call: Call) -> Reply:
        per_page, page = int(call.arg("per_page", "30") or 30), int(call.arg("page", "1") or 1)
        if per_page > 100 or call.arg("updated_since") is None:
            return Reply(400, {"description": "Validation failed"})
        state = self.log.state_at(self.clock())
        since = pd.Timestamp(call.arg("updated_since"))
        updated = state[state["modified"] >= since].sort_values(["modified", "id"])
        rows = updated.iloc[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(updated):
            headers["Link"] = f'</api/v2/tickets?page={page + 1}&per_page={per_page}>; rel="next"'
        return Reply(200, [_ticket(self.log, r, stats=True) for r in rows.itertuples()], headers)


def _ticket(log: TicketLog, row: Any, stats: bool = False) -> dict[str, Any]:
    names = group_ids(log)
    ticket: dict[str, Any] = {
        "id": zlib.crc32(str(row.id).encode()),  # numeric, as Freshdesk's ids are
        "group_id": names.get(str(row.queue)),
        "status": int(row.status),
        "created_at": _iso(row.created),
        "updated_at": _iso(row.modified),
    }
    if stats:
        resolved = None if pd.isna(row.resolved) else _iso(row.resolved)
        ticket["stats"] = {"resolved_at": resolved, "closed_at": None, "first_responded_at": None}
    return ticket


def _iso(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Kit:
    """What the case harness needs to run a Freshdesk case."""

    secrets = (API_KEY,)
    environment = {"FRESHDESK_API_KEY": API_KEY}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeFreshdesk:
        return FakeFreshdesk(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "freshdesk",
            "name": "freshdesk",
            "base_url": url,
            "api_key_env": "FRESHDESK_API_KEY",
            "groups": groups(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(g.name, g.name) for g in config.groups]

    def log(self) -> TicketLog:
        return freshdesk_log()
