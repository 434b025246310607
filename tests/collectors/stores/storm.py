"""What the fakes of the part-1 stores share for the day tests: an hour of 429s and the
requests counted per minute (the fake's own count, which the budget is checked against)."""

from __future__ import annotations

from datetime import datetime

Storm = tuple[datetime, datetime]


def storm_wait(storm: Storm | None, now: datetime) -> int | None:
    """Seconds to the storm's end while ``now`` is inside it, else None."""
    if storm is None or not storm[0] <= now < storm[1]:
        return None
    return int((storm[1] - now).total_seconds()) or 1


def count_minute(minute_calls: dict[str, int], now: datetime) -> int:
    """Count one request in ``now``'s minute; the count before it."""
    minute = now.strftime("%Y%m%d%H%M")
    used = minute_calls.get(minute, 0)
    minute_calls[minute] = used + 1
    return used
