"""Real ServiceNow incidents, as a help desk's database would hold them at an instant.

Everything derives from the real event log in ``tests/data`` (UCI, CC BY 4.0):
one row per incident with its last known assignment group, priority and assignee,
``opened_at``, ``resolved_at`` (else ``closed_at``), ``first_response_at`` (the first
update that moved it out of *New*), ``reopened_at`` (the last move from Resolved/Closed
back to an open state) and, per update, its state. SLA deadlines are not in the log:
they come from a stated policy applied to the real timestamps (:data:`SLA_POLICY`).
The expected figures (:func:`expected`) are computed here with pandas, independently of
the collector's SQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from collectors.base import QueueStats
from tests.data import SERVICENOW_LOG

LOG = SERVICENOW_LOG
FORMAT = "%d/%m/%Y %H:%M"

SLA_POLICY: dict[int, tuple[pd.Timedelta, pd.Timedelta]] = {
    1: (pd.Timedelta(hours=1), pd.Timedelta(hours=8)),
    2: (pd.Timedelta(hours=4), pd.Timedelta(hours=24)),
    3: (pd.Timedelta(hours=8), pd.Timedelta(hours=72)),
    4: (pd.Timedelta(hours=24), pd.Timedelta(hours=168)),
}
"""Priority -> (first-response target, resolution target): a policy, not data."""

AT_RISK_MARGIN = pd.Timedelta(hours=1)
"""The default at-risk margin of SqlMapping."""

OPEN_STATES = {"New": "new", "Active": "open"}
"""Log states of an unresolved incident; every 'Awaiting ...' state maps to 'pending'."""


@functools.cache
def _log() -> pd.DataFrame:
    log = pd.read_csv(
        LOG,
        usecols=[
            "number",
            "incident_state",
            "sys_mod_count",
            "sys_updated_at",
            "opened_at",
            "resolved_at",
            "closed_at",
            "priority",
            "assignment_group",
            "assigned_to",
        ],
        na_values=["?"],
    )
    for column in ("sys_updated_at", "opened_at", "resolved_at", "closed_at"):
        log[column] = pd.to_datetime(log[column], format=FORMAT)
    return log.sort_values(["number", "sys_mod_count", "sys_updated_at"], kind="stable")


def log() -> pd.DataFrame:
    """The whole real log, times parsed (naive local), read once per session."""
    return _log()


@functools.cache
def _updates() -> pd.DataFrame:
    """Every update of every incident: number, time, state."""
    return _log()[["number", "sys_updated_at", "incident_state"]].reset_index(drop=True)


@functools.cache
def incidents() -> pd.DataFrame:
    """One row per incident (naive local timestamps, as in the log)."""
    log = _log()
    last = log.groupby("number").last()  # last non-missing value of each column
    first = log.groupby("number").first()
    frame = pd.DataFrame(index=last.index)
    frame["group"] = last["assignment_group"].fillna("(none)")
    frame["priority"] = last["priority"].str[0].astype(int)
    frame["assignee"] = last["assigned_to"]
    frame["opened_at"] = first["opened_at"]
    ended = log.groupby("number")[["resolved_at", "closed_at"]].last()
    frame["resolved_at"] = ended["resolved_at"].fillna(ended["closed_at"])
    frame["resolved_at"] = frame[["resolved_at", "opened_at"]].max(axis=1)
    frame["closed_at"] = ended["closed_at"].fillna(frame["resolved_at"])
    moved = log[(log["incident_state"] != "New") & (log["sys_updated_at"] >= log["opened_at"])]
    frame["first_response_at"] = moved.groupby("number")["sys_updated_at"].min()
    previous = log.groupby("number")["incident_state"].shift()
    reopen = log[
        previous.isin(["Resolved", "Closed"]) & ~log["incident_state"].isin(["Resolved", "Closed"])
    ]
    frame["reopened_at"] = reopen.groupby("number")["sys_updated_at"].max()
    for position, column in enumerate(("first_response_due_at", "resolution_due_at")):
        target = frame["priority"].map({p: v[position] for p, v in SLA_POLICY.items()})
        frame[column] = frame["opened_at"] + pd.to_timedelta(target)
    return frame.reset_index()


def at(as_of: datetime, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The incidents opened before ``as_of`` as the help desk held them then.

    Times after ``as_of`` are not known yet (NaT); ``state`` is new/open/pending while
    unresolved (from the last update before ``as_of``), resolved until closed, then closed.
    """
    frame = incidents() if frame is None else frame
    t = pd.Timestamp(as_of)
    rows = frame[frame["opened_at"] < t].copy()
    for column in ("resolved_at", "closed_at", "first_response_at", "reopened_at"):
        rows.loc[rows[column] >= t, column] = pd.NaT
    updates = _updates()
    before = updates[updates["sys_updated_at"] < t].groupby("number")["incident_state"].last()
    live = before.reindex(rows["number"]).to_numpy()
    unresolved = np.array(
        [OPEN_STATES.get(s, "pending" if str(s).startswith("Awaiting") else "new") for s in live]
    )
    rows["state"] = np.where(
        rows["closed_at"].notna(),
        "closed",
        np.where(rows["resolved_at"].notna(), "resolved", unresolved),
    )
    return rows.reset_index(drop=True)


@dataclass(frozen=True)
class Figures:
    """What the collector must report for one queue."""

    open_by_status_priority: dict[tuple[str, str], int]
    created: int
    resolved: int
    oldest_age_s: float | None
    older_than: dict[str, int]
    age_quantiles: dict[str, float] | None
    unassigned: int
    sla_breached_open: dict[str, int]
    sla_at_risk: dict[str, int]
    sla_breached_window: dict[str, int]
    avg_first_response_s: float | None
    avg_resolution_s: float | None
    reopened: int


def expected(
    rows: pd.DataFrame,
    start: datetime,
    end: datetime,
    status_label: dict[str, str],
    priority_label: dict[int, str],
    margin: pd.Timedelta = AT_RISK_MARGIN,
) -> dict[str, Figures]:
    """Per queue, with pandas, for the store state ``rows`` (as of ``end``), window [start, end).

    ``status_label`` and ``priority_label`` translate the log's states and priorities into
    the labels the help desk shows (its status names, its priority names).
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    open_ = rows[rows["state"].isin(["new", "open", "pending"])]
    out: dict[str, Figures] = {}
    queues = (
        set(open_["group"])
        | set(rows.loc[rows["opened_at"] >= t0, "group"])
        | set(
            rows.loc[
                (rows["resolved_at"] >= t0)
                & (rows["resolved_at"] < t1)
                & ~rows["state"].isin(["new", "open", "pending"]),
                "group",
            ]
        )
    )
    for queue in sorted(queues):
        mine = rows[rows["group"] == queue]
        live = open_[open_["group"] == queue]
        out[queue] = _figures(mine, live, t0, t1, status_label, priority_label, margin)
    return out


def _figures(
    mine: pd.DataFrame,
    live: pd.DataFrame,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
    status_label: dict[str, str],
    priority_label: dict[int, str],
    margin: pd.Timedelta,
) -> Figures:
    ages = sorted((t1 - live["opened_at"]).dt.total_seconds())
    n = len(ages)
    done = mine[
        (mine["resolved_at"] >= t0)
        & (mine["resolved_at"] < t1)
        & ~mine["state"].isin(["new", "open", "pending"])
    ]
    responded = done[done["first_response_at"].notna()]
    fr_pending = live[live["first_response_at"].isna()]
    by: dict[tuple[str, str], int] = {}
    for (state, prio), count in live.groupby(["state", "priority"]).size().items():
        by[(status_label[state], priority_label[prio])] = int(count)
    fr_due, res_due = mine["first_response_due_at"], mine["resolution_due_at"]
    return Figures(
        open_by_status_priority=by,
        created=int(((mine["opened_at"] >= t0) & (mine["opened_at"] < t1)).sum()),
        resolved=len(done),
        oldest_age_s=ages[-1] if n else None,
        older_than={
            k: int(sum(a > d * 86400 for a in ages))
            for k, d in (("7d", 7), ("14d", 14), ("30d", 30))
        },
        age_quantiles={
            label: ages[(n * p + 99) // 100 - 1]
            for label, p in (("0.5", 50), ("0.9", 90), ("0.99", 99))
        }
        if n
        else None,
        unassigned=int(live["assignee"].isna().sum()),
        sla_breached_open={
            "first_response": int((fr_pending["first_response_due_at"] < t1).sum()),
            "resolution": int((live["resolution_due_at"] < t1).sum()),
        },
        sla_at_risk={
            "first_response": int(
                (
                    (fr_pending["first_response_due_at"] >= t1)
                    & (fr_pending["first_response_due_at"] < t1 + margin)
                ).sum()
            ),
            "resolution": int(
                (
                    (live["resolution_due_at"] >= t1) & (live["resolution_due_at"] < t1 + margin)
                ).sum()
            ),
        },
        sla_breached_window={
            "first_response": int(
                (
                    (fr_due >= t0)
                    & (fr_due < t1)
                    & (mine["first_response_at"].isna() | (mine["first_response_at"] > fr_due))
                ).sum()
            ),
            "resolution": int(
                (
                    (res_due >= t0)
                    & (res_due < t1)
                    & (
                        mine["state"].isin(["new", "open", "pending"])
                        | (mine["resolved_at"] > res_due)
                    )
                ).sum()
            ),
        },
        avg_first_response_s=float(
            (responded["first_response_at"] - responded["opened_at"]).dt.total_seconds().mean()
        )
        if len(responded)
        else None,
        avg_resolution_s=float((done["resolved_at"] - done["opened_at"]).dt.total_seconds().mean())
        if len(done)
        else None,
        reopened=int(((mine["reopened_at"] >= t0) & (mine["reopened_at"] < t1)).sum()),
    )


def queue_stats(queue: str, figures: Figures, **changes: Any) -> QueueStats:
    """The :class:`QueueStats` the collector must report for ``figures``; ``changes``
    replace what a schema records differently or cannot give (e.g. ``reopened=None``)."""
    values = {f.name: getattr(figures, f.name) for f in fields(Figures)}
    return QueueStats(queue=queue, **{**values, **changes})


def rounded(queues: tuple[QueueStats, ...], **changes: Any) -> tuple[QueueStats, ...]:
    """Averages rounded to the millisecond (``changes`` applied too), for comparisons."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return tuple(
        replace(
            q,
            avg_resolution_s=ms(q.avg_resolution_s),
            avg_first_response_s=ms(q.avg_first_response_s),
            **changes,
        )
        for q in queues
    )
