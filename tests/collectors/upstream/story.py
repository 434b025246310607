"""Real ServiceNow incidents as a help desk lived them, up to a fixed instant.

Everything comes from the real event log in ``tests/data`` (UCI, CC BY 4.0). The log's
naive times are local wall-clock times of the company (most likely Brazil, see
PROVENANCE.md there): they are read as ``America/Sao_Paulo`` and turned into UTC here, so
each product can write them the way it stores time (UTC, or naive local time).

The subset is every incident still unresolved at :data:`AS_OF` plus every incident updated
in the :data:`LOOKBACK` before it: about 5,300 tickets and 27,000 updates, enough to
exercise every figure over the windows in :data:`WINDOWS` while loading in seconds.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from tests.collectors.presets import realdata
from tests.collectors.presets.realdata import SLA_POLICY

AS_OF = datetime(2016, 4, 4, 15, 0, tzinfo=UTC)
"""The instant every database is built at and polled for (noon in São Paulo)."""
WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
LOOKBACK = timedelta(days=8)
LOG_ZONE = "America/Sao_Paulo"

CATEGORY = {
    "New": "new",
    "Active": "open",
    "Awaiting User Info": "pending",
    "Awaiting Vendor": "pending",
    "Awaiting Problem": "pending",
    "Awaiting Evidence": "pending",
    "Resolved": "resolved",
    "Closed": "closed",
}
"""The log's states by what they mean; the log's five ``-100`` rows are dropped."""
OPEN = ("new", "open", "pending")


def utc_naive(instant: datetime) -> pd.Timestamp:
    """An aware instant as the naive UTC timestamp the frames here hold."""
    return pd.Timestamp(instant.astimezone(UTC).replace(tzinfo=None))


def to_local(times: pd.Series, zone: str) -> pd.Series:
    """Naive UTC times as naive wall-clock times of ``zone``."""
    return times.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)


def to_utc(local: pd.Series, zone: str) -> pd.Series:
    """Naive wall-clock times of ``zone`` as naive UTC times."""
    return local.dt.tz_localize(zone).dt.tz_convert("UTC").dt.tz_localize(None)


def _read() -> pd.DataFrame:
    """The real log (read once for every test that uses it), its known states only, its
    times as naive UTC."""
    log = realdata.log()
    log = log[log["incident_state"].isin(list(CATEGORY))].copy()
    for column in ("sys_updated_at", "opened_at"):
        log[column] = to_utc(log[column], LOG_ZONE)
    return log


@functools.cache
def events() -> pd.DataFrame:
    """Every update before :data:`AS_OF` of the incidents in the subset, oldest first.

    Columns: number, at (naive UTC, never before the opening), category (new, open,
    pending, resolved, closed), group, assignee (NaN when none), priority (1..4), opened.
    """
    log = _read()
    log["at"] = log[["sys_updated_at", "opened_at"]].max(axis=1)
    log = log[log["at"] < utc_naive(AS_OF)].sort_values(
        ["number", "sys_mod_count", "at"], kind="stable"
    )
    last = log.groupby("number")["incident_state"].last().map(CATEGORY)
    recent = log.loc[log["at"] >= utc_naive(AS_OF - LOOKBACK), "number"].unique()
    keep = set(last.index[last.isin(OPEN)]) | set(recent)
    rows = log[log["number"].isin(keep)]
    return pd.DataFrame(
        {
            "number": rows["number"],
            "at": rows["at"],
            "category": rows["incident_state"].map(CATEGORY),
            "group": rows["assignment_group"],
            "assignee": rows["assigned_to"],
            "priority": rows["priority"].str[0].astype(int),
            "opened": rows["opened_at"],
        }
    ).reset_index(drop=True)


@functools.cache
def tickets() -> pd.DataFrame:
    """One row per incident as it stands at :data:`AS_OF`.

    Columns: number, opened, category, group, assignee (the last update's, NaN when none),
    priority, first_response (the first update that moved it out of New), fr_due and
    res_due (opening plus the stated policy :data:`realdata.SLA_POLICY`).
    """
    ev = events()
    last = ev.groupby("number").last()  # last non-missing value of each column
    final = ev.groupby("number").tail(1).set_index("number")
    frame = pd.DataFrame(index=final.index)
    frame["opened"] = final["opened"]
    frame["category"] = final["category"]
    frame["group"] = final["group"]
    frame["assignee"] = final["assignee"]
    frame["priority"] = last["priority"]
    moved = ev[ev["category"] != "new"]
    frame["first_response"] = moved.groupby("number")["at"].min()
    for position, column in enumerate(("fr_due", "res_due")):
        target = frame["priority"].map({p: v[position] for p, v in SLA_POLICY.items()})
        frame[column] = frame["opened"] + pd.to_timedelta(target)
    return frame.reset_index()


def entered(categories: tuple[str, ...]) -> pd.Series:
    """Per incident, the last time it entered one of ``categories`` (its first update
    counts as entering: an incident can be logged already resolved)."""
    ev = events()
    before = ev.groupby("number")["category"].shift()
    hit = ev["category"].isin(categories) & ~before.isin(categories)
    return ev[hit].groupby("number")["at"].max()


def transitions() -> pd.DataFrame:
    """The updates that changed an incident's category: number, at, before, after."""
    ev = events()
    before = ev.groupby("number")["category"].shift()
    changed = ev[before.notna() & (before != ev["category"])]
    return pd.DataFrame(
        {
            "number": changed["number"],
            "at": changed["at"],
            "before": before[changed.index],
            "after": changed["category"],
        }
    ).reset_index(drop=True)


def timeline(kinds: list[tuple[pd.Series, dict[str, Any]]], at: str) -> pd.DataFrame:
    """Records of several kinds (articles, thread entries) in time order, numbered from 1.

    Each kind is ``(mask, columns)``: the incidents the mask picks, a Series column taken
    at those rows, any other value repeated. ``at`` (the time column) is cut to whole
    seconds, as the help desks' DATETIME columns store it.
    """
    frames = [
        pd.DataFrame({c: v[keep] if isinstance(v, pd.Series) else v for c, v in cols.items()})
        for keep, cols in kinds
    ]
    out = pd.concat(frames, ignore_index=True)
    out[at] = out[at].dt.floor("s")
    out = out.sort_values(at, kind="stable").reset_index(drop=True)
    return out.assign(id=range(1, len(out) + 1))


def wall_clock(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """A frame whose naive UTC time columns become naive wall-clock times of ``zone``, as
    a help desk writes them into DATETIME columns."""
    times = frame.select_dtypes("datetime").columns
    return frame.assign(**{c: to_local(frame[c], zone) for c in times})


def from_wall_clock(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """The inverse of :func:`wall_clock`: time columns back to naive UTC."""
    times = frame.select_dtypes("datetime").columns
    return frame.assign(**{c: to_utc(frame[c], zone) for c in times})
