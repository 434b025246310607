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
  value to none: Jira clears the resolution when a resolved issue is reopened).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collectors.hosted.client import HttpClient
from monitor.errors import MappingError

FIELDS = ["assignee", "resolution"]
"""The changelog fields read (Jira's system field ids)."""


def read_routing(
    client: HttpClient, source: str, jql: str, pages: int
) -> tuple[int, int, int] | None:
    """``(resolved, reassignments, reopened)`` of the issues ``jql`` finds, or None when
    they (or their changelogs) take more than ``pages`` pages."""
    ids = _issue_ids(client, source, jql, pages)
    if ids is None:
        return None
    if not ids:
        return 0, 0, 0
    histories = _histories(client, source, ids, pages)
    if histories is None:
        return None
    reassignments = reopened = 0
    for issue in ids:
        moves, reopens = _changes(source, histories[issue])
        reassignments += moves
        reopened += int(reopens)
    return len(ids), reassignments, reopened


def _issue_ids(client: HttpClient, source: str, jql: str, pages: int) -> list[str] | None:
    ids: list[str] = []
    token: str | None = None
    for _ in range(pages):
        params = {"jql": jql, "maxResults": "100", "fields": "id"}
        if token is not None:
            params["nextPageToken"] = token
        answer = client.get("search/jql", "/rest/api/3/search/jql", params)
        try:
            ids += [str(issue["id"]) for issue in answer["issues"]]
            if answer.get("isLast", True):
                return ids
            token = str(answer["nextPageToken"])
        except (TypeError, KeyError):
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


def _changes(source: str, histories: list[Any]) -> tuple[int, bool]:
    """An issue's reassignments and whether it was reopened, from its histories."""
    try:
        ordered = sorted(histories, key=lambda h: _when(h["created"]))
        items = [item for h in ordered for item in h.get("items") or []]
    except (TypeError, KeyError, ValueError):
        raise MappingError(f"{source}: changelog/bulkfetch: unreadable history") from None
    moves, reopened, last = 0, False, None
    for item in items:
        field = item.get("fieldId", item.get("field"))
        if field == "assignee":
            before = last if last is not None else item.get("from")
            after = item.get("to")
            if after and before and after != before:
                moves += 1
            if after:
                last = after
        elif field == "resolution" and item.get("from") and not item.get("to"):
            reopened = True
    return moves, reopened


def _when(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
