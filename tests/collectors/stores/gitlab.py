"""A fake GitLab fed from the ServiceNow incident log (UCI), as the fake Zendesk is.

Mapping: project ``servicedesk/incidents`` in group ``servicedesk``; an incident is an
issue labelled with its ``assignment_group`` (``Group 70``...), created at its
``opened_at``; the issue is closed while the incident is Resolved or Closed (closed at
the latest such change), ``opened`` otherwise.

The API part: REST ``GET /api/v4/{projects,groups}/ID/issues_statistics`` (``labels``,
``created_after``/``created_before`` inclusive, ``scope``; ``state`` ignored, as
gitlab#439797) answering ``statistics.counts.{all,opened,closed}``; ``GET .../issues``
(``state``, ``labels``, ``order_by=created_at``, ``sort``, ``per_page`` <= 100); an
unknown project or group is a 404. GraphQL ``POST /api/graphql`` reading the collector's
shape: ``project|group(fullPath:) { ALIAS: issues(labelName:, closedAfter:,
[closedBefore:,] [createdBefore:]) { count } ... }`` (every bound inclusive, as
GitLab's); an unknown path gives ``null``, an unreadable query a 200 with
``errors``. ``PRIVATE-TOKEN`` on REST, Bearer on GraphQL (401 otherwise).
``RateLimit-Limit/Remaining/Reset/Observed`` on every answer, 429 with ``Retry-After``
when the minute's ``per_minute`` is spent, and during ``storm`` every request gets 429
with ``Retry-After`` up to its end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import unquote

import pandas as pd

from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.zendesk import group_names, servicenow_log
from tests.collectors.ticketlog import TicketLog

GROUP = "servicedesk"
PROJECT = f"{GROUP}/incidents"
TOKEN = "PLANTED-glpat-7c1e"
SCOPE = re.compile(r'(project|group)\(fullPath: "([^"]+)"\)')
FIELD = re.compile(
    r'(\w+): issues\((?:labelName: \["([^"]*)"\], )?closedAfter: "([^"]+)"'
    r'(?:, closedBefore: "([^"]+)")?(?:, createdBefore: "([^"]+)")?\) \{ count \}'
)


@cache
def issue_log() -> TicketLog:
    """The ServiceNow incidents as issues labelled by group: opened, or closed when done."""
    events = servicenow_log().events.drop(columns=["enters_done"])
    state = pd.Series("opened", index=events.index).mask(events["done"], "closed")
    return TicketLog(events.assign(status=state, label=state))


def queues(n: int) -> list[dict[str, str]]:
    """The ``n`` busiest groups as label queues."""
    return [{"name": g, "label": g} for g in group_names(servicenow_log())[:n]]


@dataclass
class FakeGitLab:
    """REST and GraphQL over the log at ``clock()``."""

    clock: Callable[[], datetime]
    per_minute: int = 2000
    storm: tuple[datetime, datetime] | None = None
    log: TicketLog = field(default_factory=issue_log)
    minute_calls: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        graphql = call.path == "/api/graphql"
        if graphql:
            authorised = call.headers.get("Authorization") == f"Bearer {TOKEN}"
        else:
            authorised = call.headers.get("PRIVATE-TOKEN") == TOKEN
        if not authorised:
            return Reply(401, {"message": "401 Unauthorized"})
        now = self.clock()
        if self.storm is not None and self.storm[0] <= now < self.storm[1]:
            wait = int((self.storm[1] - now).total_seconds()) or 1
            return Reply(429, {"message": "Retry later"}, {"Retry-After": str(wait)})
        minute = now.strftime("%Y%m%d%H%M")
        used = self.minute_calls.get(minute, 0)
        reset = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        quota = {
            "RateLimit-Limit": str(self.per_minute),
            "RateLimit-Observed": str(used + 1),
            "RateLimit-Remaining": str(max(0, self.per_minute - used - 1)),
            "RateLimit-Reset": str(int(reset.timestamp())),
        }
        if used >= self.per_minute:
            wait = str(int((reset - now).total_seconds()) or 1)
            return Reply(429, {"message": "Retry later"}, {**quota, "Retry-After": wait})
        self.minute_calls[minute] = used + 1
        if graphql:
            return Reply(200, self._graphql(str((call.json() or {}).get("query", ""))), quota)
        match = re.fullmatch(
            r"/api/v4/(projects|groups)/([^/]+)/(issues_statistics|issues)", call.path
        )
        if match is None:
            return Reply(404, {"message": "404 Not Found"}, quota)
        kind, ident, what = match.groups()
        if (kind, unquote(ident)) not in (("projects", PROJECT), ("groups", GROUP)):
            return Reply(404, {"message": f"404 {kind[:-1].title()} Not Found"}, quota)
        found = self._issues(call)
        if what == "issues_statistics":
            counts = {
                "all": len(found),
                "closed": int((found["status"] == "closed").sum()),
                "opened": int((found["status"] == "opened").sum()),
            }
            return Reply(200, {"statistics": {"counts": counts}}, quota)
        per_page = int(call.arg("per_page", "20") or 20)
        if per_page > 100:
            return Reply(400, {"error": "per_page is invalid"}, quota)
        state = call.arg("state")
        if state in ("opened", "closed"):
            found = found[found["status"] == state]
        if call.arg("order_by") == "created_at":
            found = found.sort_values(["created", "id"], ascending=call.arg("sort") == "asc")
        items = [
            {
                "iid": i + 1,
                "title": f"incident {row.id}",
                "state": row.status,
                "labels": [row.queue],
                "created_at": row.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
            for i, row in enumerate(found.head(per_page).itertuples())
        ]
        return Reply(200, items, quota)

    def _issues(self, call: Call) -> pd.DataFrame:
        label = call.arg("labels")
        if label is not None:
            found = self.log.queue_state_at(self.clock(), label)
        else:
            found = self.log.state_at(self.clock())
        after, before = call.arg("created_after"), call.arg("created_before")
        if after is not None:
            found = found[found["created"] >= pd.Timestamp(after)]
        if before is not None:
            found = found[found["created"] <= pd.Timestamp(before)]
        return found  # ``state`` is not read here: the statistics ignore it

    def _graphql(self, query: str) -> dict[str, Any]:
        scope = SCOPE.search(query)
        if scope is None:
            return {"errors": [{"message": "Field 'issues' doesn't exist on type 'Query'"}]}
        kind, path = scope.groups()
        if (kind, path) not in (("project", PROJECT), ("group", GROUP)):
            return {"data": {"scope": None}}
        fields = FIELD.findall(query)
        if not fields:
            return {"errors": [{"message": "syntax error, unexpected end of file"}]}
        state = self.log.state_at(self.clock())
        out = {}
        for alias, label, after, before, created_before in fields:
            mine = state if not label else state[state["queue"] == label]
            closed = mine["resolved"]
            chosen = closed >= pd.Timestamp(after)
            if before:
                chosen &= closed <= pd.Timestamp(before)
            if created_before:
                chosen &= mine["created"] <= pd.Timestamp(created_before)
            out[alias] = {"count": int(chosen.fillna(False).sum())}
        return {"data": {"scope": out}}


class Kit:
    """What the case harness needs to run a GitLab case."""

    secrets = (TOKEN,)
    environment = {"GITLAB_TOKEN": TOKEN}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeGitLab:
        # The store's clock stands still during a poll: its per-minute count is played
        # by a ``per_minute`` quirk; off here.
        return FakeGitLab(clock, **{"per_minute": 1_000_000, **quirks})

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "gitlab",
            "name": "gitlab",
            "url": url,
            "project": PROJECT,
            "token_env": "GITLAB_TOKEN",
            "queues": queues(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(q.label, q.name) for q in config.queues]

    def log(self) -> TicketLog:
        return issue_log()
