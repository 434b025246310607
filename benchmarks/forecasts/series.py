"""Hourly series per assignment group from the packaged ServiceNow fixture.

Follows forecasting.md's protocol: one row per incident, queue = last known group;
the row labelled ``h`` holds the open count at ``h + 1h`` (open at t when
``opened_at < t`` and (``resolved_at`` empty or ``resolved_at >= t``)), and the
tickets created/resolved during ``[h, h + 1h)``. Window 2016-03-14 .. 2016-05-31;
the total plus every group whose mean open count there is at least 20.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasts.types import HourlySeries

FIXTURE = Path(__file__).resolve().parents[2] / "monitor/demo/data/servicenow_incidents.csv.gz"
START = np.datetime64("2016-03-14T00", "h")
END = np.datetime64("2016-05-31T23", "h")
MIN_MEAN_OPEN = 20.0
TOTAL = "all"


def _counts_before(sorted_times: np.ndarray, instants: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_times, instants, side="left")


def hourly(opened: np.ndarray, resolved: np.ndarray, hours: np.ndarray) -> pd.DataFrame:
    """Open/created/resolved per hour label for one queue's incidents."""
    ends = (hours + np.timedelta64(1, "h")).astype("datetime64[m]")
    starts = hours.astype("datetime64[m]")
    op = np.sort(opened)
    rs = np.sort(resolved[~np.isnat(resolved)])
    open_ = _counts_before(op, ends) - _counts_before(rs, ends)
    created = _counts_before(op, ends) - _counts_before(op, starts)
    done = _counts_before(rs, ends) - _counts_before(rs, starts)
    return pd.DataFrame({"timestamp": hours, "open": open_, "created": created, "resolved": done})


def build_frame(path: Path = FIXTURE) -> pd.DataFrame:
    """Long frame (timestamp, queue, open, created, resolved) for the protocol's queues."""
    raw = pd.read_csv(path, parse_dates=["opened_at", "resolved_at"])
    hours = np.arange(START, END + np.timedelta64(1, "h"), dtype="datetime64[h]")
    frames = []
    groups = [(TOTAL, raw), *raw.groupby("queue", sort=True)]
    for queue, rows in groups:
        opened = rows["opened_at"].to_numpy(dtype="datetime64[m]")
        resolved = rows["resolved_at"].to_numpy(dtype="datetime64[m]")
        frame = hourly(opened, resolved, hours)
        if queue == TOTAL or frame["open"].mean() >= MIN_MEAN_OPEN:
            frames.append(frame.assign(queue=str(queue)))
    long = pd.concat(frames, ignore_index=True)
    return long[["timestamp", "queue", "open", "created", "resolved"]]


def read_csv(path: Path) -> dict[str, HourlySeries]:
    """Series per queue from a CSV of (timestamp, queue, open, created, resolved)."""
    frame = pd.read_csv(path, parse_dates=["timestamp"])
    return to_series(frame)


def to_series(frame: pd.DataFrame) -> dict[str, HourlySeries]:
    """Series per queue from a long frame, in the frame's queue order."""
    out: dict[str, HourlySeries] = {}
    for queue, rows in frame.groupby("queue", sort=False):
        rows = rows.sort_values("timestamp")
        out[str(queue)] = HourlySeries.from_arrays(
            rows["timestamp"].to_numpy(dtype="datetime64[h]"),
            rows["open"].to_numpy(dtype=np.float64),
            rows["created"].to_numpy(dtype=np.float64),
            rows["resolved"].to_numpy(dtype=np.float64),
        )
    return out
