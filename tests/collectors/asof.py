"""The figures of a past instant, computed with pandas from a ticket table (never with SQL).

The rule (docs/backfill.md): a ticket is open at ``T`` when it was created before ``T``
and is open now, or was resolved at or after ``T`` (and not before its creation). A
ticket closed now without a resolution time, or resolved before it was created, is
never open; one without a creation time never counts. Created and resolved in a window
count creation times, and resolution times of tickets not open now.

Frames have the columns ``queue``, ``status``, ``priority``, ``open_now`` (bool),
``created`` and ``resolved`` (aware UTC timestamps or NaT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import pandas as pd

AGES = {"7d": 7, "14d": 14, "30d": 30}
HOUR = pd.Timedelta(hours=1)


def utc(column: pd.Series, zone: str = "UTC") -> pd.Series:
    """Naive wall-clock times in ``zone`` as aware UTC timestamps."""
    return column.dt.tz_localize(zone).dt.tz_convert("UTC")


def open_at(frame: pd.DataFrame, instant: datetime | pd.Timestamp) -> pd.Series:
    """Which tickets of ``frame`` were open at ``instant`` (a boolean mask)."""
    t = pd.Timestamp(instant)
    later = frame["resolved"].notna() & (frame["resolved"] >= t)
    later &= frame["resolved"] >= frame["created"]
    return frame["created"].notna() & (frame["created"] < t) & (frame["open_now"] | later)


def created_in(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return (frame["created"] >= start) & (frame["created"] < end)


def resolved_in(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return ~frame["open_now"] & (frame["resolved"] >= start) & (frame["resolved"] < end)


def snapshot(frame: pd.DataFrame, instant: datetime, window: timedelta) -> dict[str, dict]:
    """Per queue (and ``__total__``): the figures ``snapshot --as-of`` must print."""
    t = pd.Timestamp(instant)
    start = t - pd.Timedelta(window)
    live = frame[open_at(frame, t)]
    made = frame[created_in(frame, start, t)]
    done = frame[resolved_in(frame, start, t)]
    queues = sorted(set(live["queue"]) | set(made["queue"]) | set(done["queue"]))
    out = {q: _figures(t, live, made, done, q) for q in queues}
    out["__total__"] = _figures(t, live, made, done, None)
    return out


def _figures(
    t: pd.Timestamp, live: pd.DataFrame, made: pd.DataFrame, done: pd.DataFrame, q: str | None
) -> dict:
    def mine(rows: pd.DataFrame) -> pd.DataFrame:
        return rows if q is None else rows[rows["queue"] == q]

    here = mine(live)
    ages = sorted((t - here["created"]).dt.total_seconds())
    n = len(ages)
    by = here.groupby(["status", "priority"]).size()
    return {
        "open": n,
        "open_by_status_priority": sorted([s, p, int(c)] for (s, p), c in by.items()),
        "created": len(mine(made)),
        "resolved": len(mine(done)),
        "oldest_age_s": ages[-1] if n else None,
        "older_than": {k: sum(a > d * 86400 for a in ages) for k, d in AGES.items()},
        "age_quantiles": {
            label: ages[(n * p + 99) // 100 - 1]
            for label, p in (("0.5", 50), ("0.9", 90), ("0.99", 99))
        }
        if n
        else None,
    }


def hourly(frame: pd.DataFrame, hours: Iterable[pd.Timestamp]) -> dict[tuple[str, datetime], tuple]:
    """Per ``(queue, hour)`` (and ``__total__``): (open at the hour's end, created in the
    hour, resolved in the hour): the rows a backfill must write, for every queue that has
    a ticket created by the hour's end or one resolved within it."""
    out: dict[tuple[str, datetime], tuple] = {}
    queues = sorted(frame["queue"].dropna().unique())
    for hour in hours:
        end = hour + HOUR
        seen = frame["created"].notna() & (frame["created"] < end)
        live = open_at(frame, end)
        made, done = created_in(frame, hour, end), resolved_in(frame, hour, end)
        for q in [*queues, None]:
            here = frame["queue"] == q if q is not None else frame["queue"].notna() | True
            if not ((seen | done) & here).any():
                continue
            out[(q or "__total__", hour.to_pydatetime())] = (
                int((live & here).sum()),
                int((made & here).sum()),
                int((done & here).sum()),
            )
    return out


def hourly_moving(
    frame_at: Callable[[pd.Timestamp], pd.DataFrame], hours: list[pd.Timestamp]
) -> dict[tuple[str, datetime], tuple]:
    """:func:`hourly` with tickets that change queues: ``frame_at(T)`` gives the tickets
    (same rows every time) with their queue at ``T``, and each hour's figures count each
    ticket in its queue at the hour's end. A queue has rows from the first of the first
    hour's start and the hours' ends at which a ticket created before it is in it (or
    from an hour with a resolution in it)."""
    out: dict[tuple[str, datetime], tuple] = {}
    first = frame_at(hours[0])
    ever = set(first["queue"][first["created"].notna() & (first["created"] < hours[0])])
    for hour in hours:
        end = hour + HOUR
        frame = frame_at(end)
        seen = frame["created"].notna() & (frame["created"] < end)
        ever |= set(frame["queue"][seen])
        live = open_at(frame, end)
        made, done = created_in(frame, hour, end), resolved_in(frame, hour, end)
        for q in [*sorted(set(frame["queue"]) | ever), None]:
            here = frame["queue"] == q if q is not None else frame["queue"].notna() | True
            wanted = (seen | done).any() if q is None else q in ever or (done & here).any()
            if not wanted:
                continue
            out[(q or "__total__", hour.to_pydatetime())] = (
                int((live & here).sum()),
                int((made & here).sum()),
                int((done & here).sum()),
            )
    return out
