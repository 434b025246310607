"""Hourly backlog series from the three real ticket logs in ``tests/data``.

Every log is turned into one row per ticket (opened, ended, queue) and then into an
hourly open/created/resolved series per queue, following forecasting.md's protocol:
the row labelled ``h`` holds the open count at ``h + 1h`` (open at t when opened
before t and not ended before t) and the tickets created/resolved during
``[h, h + 1h)``. A queue is kept when its mean open count over the window is at least
``min_open``.

* **ServiceNow** (UCI): queue = the last known ``assignment_group`` (the latest value
  other than the log's missing marker ``?``: the protocol's 19 episodes), and as other cuts
  of the same tickets ``category`` and ``location``; ended = ``resolved_at`` else
  ``closed_at``; 2016-03-14 .. 2016-05-31; plus the total (``all``).
* **BPIC 2013** (Volvo IT): queue = the support team (``Involved ST``) holding the
  ticket at each moment (and, as another cut, the org line), from the event that
  gives it to the team to the next event, until the first ``Completed`` status;
  2012-04-01 .. 2012-05-22 (the sample's burst: every case ends by 23 May); plus the
  total.
* **Helpdesk** (an Italian software company): about three tickets a day; queue = the
  agent who took the ticket in charge, ended = the first ``Resolve ticket`` (else
  ``Closed``); 2010-03-01 .. 2013-10-31; plus the total.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from forecasts.types import HourlySeries
from tests.data import BPIC2013_LOG, HELPDESK_LOG, SERVICENOW_LOG

START = np.datetime64("2016-03-14T00", "h")
END = np.datetime64("2016-05-31T23", "h")
MIN_MEAN_OPEN = 20.0
TOTAL = "all"
DATES = "%d/%m/%Y %H:%M"


def _counts_before(sorted_times: np.ndarray, instants: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_times, instants, side="left")


def hourly(opened: np.ndarray, resolved: np.ndarray, hours: np.ndarray) -> pd.DataFrame:
    """Open/created/resolved per hour label for one queue's tickets."""
    ends = (hours + np.timedelta64(1, "h")).astype("datetime64[m]")
    starts = hours.astype("datetime64[m]")
    op = np.sort(opened)
    rs = np.sort(resolved[~np.isnat(resolved)])
    open_ = _counts_before(op, ends) - _counts_before(rs, ends)
    created = _counts_before(op, ends) - _counts_before(op, starts)
    done = _counts_before(rs, ends) - _counts_before(rs, starts)
    return pd.DataFrame({"timestamp": hours, "open": open_, "created": created, "resolved": done})


def frame(
    tickets: pd.DataFrame,
    start: np.datetime64,
    end: np.datetime64,
    min_open: float = MIN_MEAN_OPEN,
    total: bool = True,
) -> pd.DataFrame:
    """Long frame (timestamp, queue, open, created, resolved) of the kept queues.

    Args:
        tickets: one row per ticket: ``queue``, ``opened``, ``ended`` (NaT: still open).
        start: first hour label.
        end: last hour label.
        min_open: keep queues whose mean open count is at least this.
        total: also the whole log as queue ``all`` (kept whatever its size).
    """
    hours = np.arange(start, end + np.timedelta64(1, "h"), dtype="datetime64[h]")
    groups = [(TOTAL, tickets)] if total else []
    groups += [(q, rows) for q, rows in tickets.groupby("queue", sort=True) if q != "?"]
    frames = []
    for queue, rows in groups:
        opened = rows["opened"].to_numpy(dtype="datetime64[m]")
        ended = rows["ended"].to_numpy(dtype="datetime64[m]")
        series = hourly(opened, ended, hours)
        if queue == TOTAL or series["open"].mean() >= min_open:
            frames.append(series.assign(queue=str(queue)))
    long = pd.concat(frames, ignore_index=True)
    return long[["timestamp", "queue", "open", "created", "resolved"]]


def servicenow_tickets(by: str = "assignment_group", path: Path = SERVICENOW_LOG) -> pd.DataFrame:
    """One row per ServiceNow incident: the last known ``by``, opened, ended."""
    raw = pd.read_csv(
        path, usecols=["number", "sys_updated_at", "opened_at", by, "resolved_at", "closed_at"]
    )
    raw["updated"] = pd.to_datetime(raw["sys_updated_at"], format=DATES)
    ordered = raw.sort_values("updated", kind="stable")
    last = ordered.groupby("number").tail(1).set_index("number")
    # "last known": the latest value that is not the log's missing marker "?"
    known = ordered[ordered[by] != "?"].groupby("number")[by].last()
    opened = pd.to_datetime(last["opened_at"], format=DATES)
    resolved = pd.to_datetime(last["resolved_at"].replace("?", None), format=DATES)
    closed = pd.to_datetime(last["closed_at"].replace("?", None), format=DATES)
    queue = known.reindex(last.index).fillna("?").astype(str)
    return pd.DataFrame(
        {"queue": queue, "opened": opened, "ended": resolved.fillna(closed)}
    ).reset_index(drop=True)


def bpic_tickets(by: str = "Involved ST", path: Path = BPIC2013_LOG) -> pd.DataFrame:
    """BPIC 2013 incidents as stays in a queue: the team (or org line) ``by`` of each
    event holds the ticket from that event to the next one, until the first
    ``Completed`` status. This is what a help desk reports per team at each poll:
    tickets move between the 1st, 2nd and 3rd lines within hours."""
    raw = pd.read_csv(path, encoding="utf-8-sig")
    raw["t"] = pd.to_datetime(raw["Change Date+Time"], utc=True).dt.tz_localize(None)
    raw = raw.sort_values(["SR Number", "t"], kind="stable")
    done = raw["Status"] == "Completed"
    first_done = raw["t"].where(done).groupby(raw["SR Number"]).transform("min")
    live = raw[first_done.isna() | (raw["t"] < first_done)].copy()
    nxt = live.groupby("SR Number")["t"].shift(-1)
    closing = first_done.loc[live.index]
    live["ended"] = nxt.fillna(closing)
    # consecutive events in the same queue are one stay
    queue = live[by].astype(str)
    starts = queue != queue.groupby(live["SR Number"]).shift(1)
    stay = starts.groupby(live["SR Number"]).cumsum()
    grouped = live.assign(queue=queue, stay=stay).groupby(["SR Number", "stay"])
    out = grouped.agg(queue=("queue", "first"), opened=("t", "min"), ended=("ended", "last"))
    return out.reset_index(drop=True)


def helpdesk_tickets(path: Path = HELPDESK_LOG) -> pd.DataFrame:
    """One row per Helpdesk ticket: the agent who took it in charge, first event, resolution."""
    raw = pd.read_csv(path)
    raw["t"] = pd.to_datetime(raw["time:timestamp"], utc=True).dt.tz_localize(None)
    case = raw.groupby("case:concept:name")
    taken = raw[raw["Activity"] == "Take in charge ticket"].groupby("case:concept:name")
    resolved = raw[raw["Activity"] == "Resolve ticket"].groupby("case:concept:name")["t"].min()
    closed = raw[raw["Activity"] == "Closed"].groupby("case:concept:name")["t"].min()
    out = pd.DataFrame({"opened": case["t"].min()})
    out["queue"] = taken["Resource"].first().reindex(out.index).fillna("?").astype(str)
    out["ended"] = resolved.reindex(out.index).fillna(closed.reindex(out.index))
    return out.reset_index(drop=True)


BPIC_START = np.datetime64("2012-04-01T00", "h")
BPIC_END = np.datetime64("2012-05-22T23", "h")


def _without_total(long: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Another cut of a log already counted: its queues only, renamed ``prefix:queue``."""
    kept = long[long["queue"] != TOTAL].copy()
    kept["queue"] = prefix + ":" + kept["queue"]
    return kept


LOGS: dict[str, Callable[[], pd.DataFrame]] = {
    "servicenow": lambda: pd.concat(
        [
            frame(servicenow_tickets(), START, END),
            _without_total(frame(servicenow_tickets("category"), START, END), "category"),
            _without_total(frame(servicenow_tickets("location"), START, END), "location"),
        ]
    ),
    "bpic2013": lambda: pd.concat(
        [
            frame(bpic_tickets(), BPIC_START, BPIC_END),
            _without_total(frame(bpic_tickets("Involved Org line 3"), BPIC_START, BPIC_END), "org"),
        ]
    ),
    "helpdesk": lambda: frame(
        helpdesk_tickets(),
        np.datetime64("2010-03-01T00", "h"),
        np.datetime64("2013-10-31T23", "h"),
        min_open=5.0,
    ),
}
"""Per log, its long frame of kept queues (the benchmarks' data)."""


def build_frame() -> pd.DataFrame:
    """The protocol's ServiceNow queues: the total and the groups with mean open >= 20."""
    return frame(servicenow_tickets(), START, END)


def read_csv(path: Path) -> dict[str, HourlySeries]:
    """Series per queue from a CSV of (timestamp, queue, open, created, resolved)."""
    frame_ = pd.read_csv(path, parse_dates=["timestamp"])
    return to_series(frame_)


def to_series(frame_: pd.DataFrame) -> dict[str, HourlySeries]:
    """Series per queue from a long frame, in the frame's queue order."""
    out: dict[str, HourlySeries] = {}
    for queue, rows in frame_.groupby("queue", sort=False):
        rows = rows.sort_values("timestamp")
        out[str(queue)] = HourlySeries.from_arrays(
            rows["timestamp"].to_numpy(dtype="datetime64[h]"),
            rows["open"].to_numpy(dtype=np.float64),
            rows["created"].to_numpy(dtype=np.float64),
            rows["resolved"].to_numpy(dtype=np.float64),
        )
    return out
