"""Jira Cloud's routing figures: reassignments and reopens from the issues' changelogs.

The issues a JQL finds (those resolved in the window) are listed by id with
``GET /rest/api/3/search/jql`` (``fields=id``, 100 a page, ``nextPageToken``); their
``assignee`` and ``resolution`` changes come from ``POST /rest/api/3/changelog/bulkfetch``
(body ``issueIdsOrKeys``, ``fieldIds``, ``maxResults``, ``nextPageToken``; answer
``issueChangeLogs: [{issueId, changeHistories: [{created, items: [{fieldId, from, to}]}]}]``
and ``nextPageToken``, null on the last page), the shapes of Atlassian's Cloud platform
REST API v3. Both are read at most ``pages`` pages; past that the figure is absent.

- a **reassignment** is a change of ``assignee`` to someone other than the previous
  assignee (the first assignment of an unassigned issue is not one);
- an issue is **reopened** when its ``resolution`` was once cleared (a change from a
  value to none: Jira clears the resolution when a resolved issue is reopened);
- its **first assignment** is its first ``assignee`` change when that change is from
  none (created unassigned, assigned then): the wait is that history's ``created``
  minus the issue's ``created``. An issue whose first ``assignee`` change is from
  someone, or that has none and an assignee now, was created assigned (a wait of 0);
  one with neither was never assigned and has no wait. The issues' ``created`` and
  ``assignee`` come with their ids (``fields=created,assignee``): no extra request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.hosted.client import HttpClient
from monitor.errors import MappingError

FIELDS = ["assignee", "resolution"]
"""The changelog fields read (Jira's system field ids)."""


@dataclass(frozen=True)
class JiraRouting:
    """The routing figures of the issues a JQL found."""

    resolved: int
    reassignments: int
    reopened: int
    assigned: int
    """Issues with a first assignment (never-assigned ones have none)."""
    first_assignment_s: float
    """Their waits from creation to the first assignment, summed, in seconds."""


@dataclass(frozen=True)
class _Issue:
    id: str
    created: datetime
    assigned_now: bool


def read_routing(client: HttpClient, source: str, jql: str, pages: int) -> JiraRouting | None:
    """The routing figures of the issues ``jql`` finds, or None when they (or their
    changelogs) take more than ``pages`` pages."""
    issues = _issues(client, source, jql, pages)
    if issues is None:
        return None
    if not issues:
        return JiraRouting(0, 0, 0, 0, 0.0)
    histories = _histories(client, source, [i.id for i in issues], pages)
    if histories is None:
        return None
    reassignments = reopened = assigned = 0
    waited = 0.0
    for issue in issues:
        changes = _changes(source, histories[issue.id])
        reassignments += changes.moves
        reopened += int(changes.reopened)
        wait = _first_wait(issue, changes.first_assigned)
        if wait is not None:
            assigned += 1
            waited += wait
    return JiraRouting(len(issues), reassignments, reopened, assigned, waited)


def _first_wait(issue: _Issue, first: datetime | bool | None) -> float | None:
    """Seconds from creation to the first assignment (0: created assigned), or None
    when the issue was never assigned. ``first``: when the first ``assignee`` change
    from none happened; True: the first change was from someone; None: no change."""
    if isinstance(first, datetime):
        return max(0.0, (first - issue.created).total_seconds())
    if first is True or issue.assigned_now:
        return 0.0
    return None


def _issues(client: HttpClient, source: str, jql: str, pages: int) -> list[_Issue] | None:
    issues: list[_Issue] = []
    token: str | None = None
    for _ in range(pages):
        params = {"jql": jql, "maxResults": "100", "fields": "created,assignee"}
        if token is not None:
            params["nextPageToken"] = token
        answer = client.get("search/jql", "/rest/api/3/search/jql", params)
        try:
            for issue in answer["issues"]:
                fields = issue["fields"]
                created = _when(fields["created"])
                issues.append(_Issue(str(issue["id"]), created, bool(fields.get("assignee"))))
            if answer.get("isLast", True):
                return issues
            token = str(answer["nextPageToken"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{source}: search/jql: unexpected answer") from None
    return None


def _histories(
    client: HttpClient, source: str, ids: list[str], pages: int
) -> dict[str, list[Any]] | None:
    out: dict[str, list[Any]] = {issue: [] for issue in ids}
    body: dict[str, Any] = {"issueIdsOrKeys": ids, "fieldIds": FIELDS, "maxResults": 1000}
    for _ in range(pages):
        answer = client.post("changelog/bulkfetch", "/rest/api/3/changelog/bulkfetch", body)
        try:
            for log in answer["issueChangeLogs"]:
                out[str(log["issueId"])] += log.get("changeHistories") or []
            token = answer.get("nextPageToken")
        except (TypeError, KeyError, AttributeError):
            raise MappingError(f"{source}: changelog/bulkfetch: unexpected answer") from None
        if not token:
            return out
        body = {**body, "nextPageToken": token}
    return None


@dataclass(frozen=True)
class _Changes:
    moves: int
    reopened: bool
    first_assigned: datetime | bool | None
    """When the first ``assignee`` change was from none; True when it was from someone;
    None when the issue has no ``assignee`` change."""


def _changes(source: str, histories: list[Any]) -> _Changes:
    """An issue's reassignments, whether it was reopened, and its first assignment,
    from its histories."""
    try:
        ordered = sorted(histories, key=lambda h: _when(h["created"]))
        items = [(_when(h["created"]), item) for h in ordered for item in h.get("items") or []]
    except (TypeError, KeyError, ValueError):
        raise MappingError(f"{source}: changelog/bulkfetch: unreadable history") from None
    moves, reopened, last = 0, False, None
    first: datetime | bool | None = None
    for at, item in items:
        field = item.get("fieldId", item.get("field"))
        if field == "assignee":
            before = last if last is not None else item.get("from")
            after = item.get("to")
            if first is None:
                first = True if item.get("from") else at
            if after and before and after != before:
                moves += 1
            if after:
                last = after
        elif field == "resolution" and item.get("from") and not item.get("to"):
            reopened = True
    return _Changes(moves, reopened, first)


def _when(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
