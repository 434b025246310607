"""The ServiceNow incident log (UCI) as events, shared by the fakes that serve it.

One row per audit event: ``id`` (the incident number), ``at`` (``sys_updated_at``),
``opened`` (``opened_at``), both minute precision read as UTC; ``queue`` (the assignment
group, ``?`` when none), ``status`` (the incident state) and ``priority``, as logged;
and the workload fields, as logged (``?`` when none): ``assignee`` (``assigned_to``),
``category``, and the counters ``reassignments`` (``reassignment_count``) and
``reopens`` (``reopen_count``, both integers). Each fake maps the states to its store's
own statuses.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from tests.collectors.ticketlog import TicketLog
from tests.data import SERVICENOW_LOG

LOG_TIME = "%d/%m/%Y %H:%M"
COLUMNS = [
    "number",
    "incident_state",
    "opened_at",
    "sys_updated_at",
    "assignment_group",
    "priority",
    "assigned_to",
    "category",
    "reassignment_count",
    "reopen_count",
]


@cache
def incident_events() -> pd.DataFrame:
    """Every event of the log, in the log's order."""
    raw = pd.read_csv(SERVICENOW_LOG, usecols=COLUMNS, dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "id": raw["number"],
            "at": pd.to_datetime(raw["sys_updated_at"], format=LOG_TIME, utc=True),
            "opened": pd.to_datetime(raw["opened_at"], format=LOG_TIME, utc=True),
            "queue": raw["assignment_group"],
            "status": raw["incident_state"],
            "priority": raw["priority"],
            "assignee": raw["assigned_to"],
            "category": raw["category"],
            "reassignments": raw["reassignment_count"].astype(int),
            "reopens": raw["reopen_count"].astype(int),
        }
    )


@cache
def group_names(log: TicketLog) -> list[str]:
    """Every group, busiest first; ``?`` (no group) is left out."""
    counts = log.events["queue"].value_counts()
    return [str(g) for g in counts.index if g != "?"]


def group_id(rank: int) -> int:
    return 360000000000 + rank
