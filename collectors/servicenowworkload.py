"""ServiceNow's workload figures from the Aggregate API (``collectors.servicenow``).

What each figure reads, per configured assignment group (field names are the incident
table's, from ServiceNow's data dictionary):

- oldest update and waiting counts and ages: the poll's open request, grouped by group,
  state and priority, also asks ``sysparm_min_fields=sys_updated_on`` (no extra request;
  ServiceNow's state history is not in the Aggregate API, so ages are from the last
  update, labelled ``last_update``);
- agents: one request of open tickets grouped by ``assignment_group,assigned_to`` with
  the minimum ``opened_at`` (an empty display value is the unassigned tickets);
- stale: one count per age, open and ``sys_updated_on<CUTOFF``;
- routing: the resolved request sums ``reassignment_count`` (``sysparm_sum_fields``,
  answered as ``stats.sum.reassignment_count``); one more count of the resolved with
  ``reopen_count>0``; misroutes are absent (no queue-move counter on the incident);
- top categories: the opened request is grouped by ``category`` too, and one request of
  open tickets by group and category (an empty category is ``none``, as in SQL);
- the stale list (``listed_tickets`` with ``stale_after``): per group, one Table API
  request (``GET /api/now/table/<table>``) of its open tickets ``ORDERBYsys_updated_on``
  then by number, ``sysparm_limit`` of them, display values without reference links.
  Waiting tickets are not listed: the waiting statuses are display values, which an
  encoded query does not filter on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collectors.base import Window
from collectors.hosted.workload import HostedWorkload, RawTicket, RawWorkload, stale_labels
from collectors.servicenowrows import Row, group_fields, row_count, row_sum
from monitor.errors import MappingError

if TYPE_CHECKING:
    from collectors.servicenow import ServiceNowCollector


@dataclass(frozen=True)
class WorkloadRead:
    """The poll's own answers the workload figures reuse, and its resolved query."""

    open_rows: list[Row]
    created_rows: list[Row]
    resolved_rows: list[Row]
    done: str


def read_workload(
    sn: ServiceNowCollector, w: HostedWorkload, window: Window, read: WorkloadRead
) -> dict[str, RawWorkload]:
    """What ``w`` asks for, per configured group (see the module docstring)."""
    raw = {g: RawWorkload() for g in sn.config.assignment_groups}
    if w.updates:
        _updates(sn, w, raw, read.open_rows)
    if w.assignees:
        _agents(sn, raw)
    for label, age in zip(stale_labels(w), w.stale_after, strict=True):
        cutoff = sn._when(window.end - age)
        counts = sn._counts(f"{sn.config.open_query}^sys_updated_on<{cutoff}")
        for group, r in raw.items():
            r.stale = {**(r.stale or {}), label: counts[group]}
    if w.routing:
        _routing(sn, raw, read)
    if w.top_categories is not None:
        open_rows = sn._stats(sn.config.open_query, "assignment_group,category")
        _categories(sn, raw, "categories_open", open_rows)
        _categories(sn, raw, "categories_created", read.created_rows)
    if w.listed_tickets is not None and w.stale_after:
        for group, r in raw.items():
            r.stale_tickets = _least_recently_updated(sn, group, w.listed_tickets)
    return raw


def _least_recently_updated(sn: ServiceNowCollector, group: str, n: int) -> tuple[RawTicket, ...]:
    params = {
        "sysparm_query": f"{sn.config.open_query}^assignment_group.name={group}"
        "^ORDERBYsys_updated_on^ORDERBYnumber",
        "sysparm_limit": str(n),
        "sysparm_fields": "number,state,assigned_to,sys_updated_on",
        "sysparm_display_value": "true",
        "sysparm_exclude_reference_link": "true",
    }
    answer = sn.client.get("table", f"/api/now/table/{sn.config.table}", params)
    try:
        return tuple(
            RawTicket(
                str(t["number"]),
                str(t["state"]),
                str(t["assigned_to"]) or None,
                sn._parse(t["sys_updated_on"]),
            )
            for t in answer["result"]
        )
    except (TypeError, KeyError):
        raise MappingError(f"{sn.name}: table: unexpected answer") from None


def _updates(
    sn: ServiceNowCollector, w: HostedWorkload, raw: dict[str, RawWorkload], rows: list[Row]
) -> None:
    for r in raw.values():
        r.waiting = {} if w.waiting_statuses else None
    for row in rows:
        group, state, _ = group_fields(sn.name, row, 3)
        r = raw[group]
        updated = sn._min(row, "sys_updated_on")
        r.oldest_update = min(updated, r.oldest_update or updated)
        if r.waiting is not None and state in w.waiting_statuses:
            n, since = r.waiting.get(state, (0, None))
            r.waiting[state] = (n + row_count(sn.name, row), min(updated, since or updated))


def _agents(sn: ServiceNowCollector, raw: dict[str, RawWorkload]) -> None:
    loads: dict[str, dict[str, Any]] = {g: {} for g in raw}
    rows = sn._stats(sn.config.open_query, "assignment_group,assigned_to", min_fields="opened_at")
    for row in rows:
        group, agent = group_fields(sn.name, row, 2)
        if agent:  # an empty display value: the unassigned tickets
            loads[group][agent] = (row_count(sn.name, row), sn._min(row, "opened_at"))
    for group, r in raw.items():
        r.agents = loads[group]


def _routing(sn: ServiceNowCollector, raw: dict[str, RawWorkload], read: WorkloadRead) -> None:
    reopened = sn._counts(f"{read.done}^reopen_count>0")
    for group, r in raw.items():
        r.resolved, r.reassignments, r.reopened = 0, 0, reopened[group]
    for row in read.resolved_rows:
        (group,) = group_fields(sn.name, row, 1)
        raw[group].resolved = row_count(sn.name, row)
        raw[group].reassignments = row_sum(sn.name, row, "reassignment_count")


def _categories(
    sn: ServiceNowCollector, raw: dict[str, RawWorkload], name: str, rows: list[Row]
) -> None:
    counts: dict[str, dict[str, int]] = {g: {} for g in raw}
    for row in rows:
        group, category = group_fields(sn.name, row, 2)
        key = category or "none"  # an empty category, as the SQL collector names it
        counts[group][key] = counts[group].get(key, 0) + row_count(sn.name, row)
    for group, r in raw.items():
        setattr(r, name, counts[group])
