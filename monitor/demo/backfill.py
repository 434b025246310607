"""Seed the demo's history with the real hourly backlog of the weeks before the replay.

A deployment builds this history by running; the demo replays only a few days, so it
loads the three weeks before its start from the same incident log (the total queue
only), giving the forecasts the history they need from the first minute.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa

from monitor.demo.ticketstore import Incident
from monitor.store.schema import rollups

HOUR = timedelta(hours=1)


def backfill_rollups(
    engine: sa.Engine,
    incidents: list[Incident],
    start: datetime,
    zone: tzinfo,
    days: int,
    source: str,
    queue: str,
) -> int:
    """Write hourly rollups of the whole backlog for ``days`` before ``start`` (aware)."""
    opened = sorted(i.opened_at for i in incidents)
    resolved = sorted(i.resolved_at for i in incidents if i.resolved_at is not None)
    rows = []
    hour = start - timedelta(days=days)
    while hour < start:
        begin, end = (_local(t, zone) for t in (hour, hour + HOUR))
        open_now = bisect.bisect_left(opened, end) - bisect.bisect_left(resolved, end)
        rows.append(
            {
                "source": source,
                "queue": queue,
                "hour": hour,
                "samples": 1,
                "open_avg": float(open_now),
                "open_min": open_now,
                "open_max": open_now,
                "open_last": open_now,
                "created": bisect.bisect_left(opened, end) - bisect.bisect_left(opened, begin),
                "resolved": bisect.bisect_left(resolved, end) - bisect.bisect_left(resolved, begin),
                "oldest_age_max_s": None,
            }
        )
        hour += HOUR
    with engine.begin() as conn:
        conn.execute(rollups.insert(), rows)
    return len(rows)


def _local(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)
