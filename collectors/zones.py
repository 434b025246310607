"""UTC-offset changes of a time zone, for durations between naive local times in SQL.

A help desk that stores naive local DATETIMEs in a zone with summer time makes
``resolved - created`` wrong by the offset change for every ticket that straddles
one. The collector corrects it in the database: :func:`transitions` lists when the
zone's offset changed, and ``Fields.duration`` subtracts the difference of the two
instants' offsets, each found by a ``CASE`` over those changes.

Ambiguous and missing local times (the hour repeated in autumn, skipped in spring)
are read as Python reads them with ``fold=0``: with the offset in force before the
change. So the local instant from which the new offset applies is the change's UTC
instant plus the larger of the two offsets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Transition:
    """One change of a zone's UTC offset.

    Attributes:
        at: the UTC instant of the change.
        before: the offset in force until then, in seconds.
        after: the offset in force from then on, in seconds.
    """

    at: datetime
    before: int
    after: int

    @property
    def local_from(self) -> datetime:
        """The naive local time from which a stored value has the new offset."""
        return (self.at + timedelta(seconds=max(self.before, self.after))).replace(tzinfo=None)

    @property
    def bound_instant(self) -> datetime:
        """The aware instant whose local time (in the zone) is :attr:`local_from`."""
        return self.at + timedelta(seconds=max(self.before, self.after) - self.after)


def offset_seconds(zone: ZoneInfo, instant: datetime) -> int:
    """The zone's UTC offset at an aware instant, in seconds."""
    offset = instant.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@functools.lru_cache(maxsize=64)
def transitions(zone_name: str, first_year: int, last_year: int) -> tuple[Transition, ...]:
    """Every offset change of ``zone_name`` from 1 January ``first_year`` to the end of
    ``last_year`` (UTC), oldest first; empty for UTC and fixed-offset zones."""
    zone = ZoneInfo(zone_name)
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    out: list[Transition] = []
    day, offset = start, offset_seconds(zone, start)
    while day < stop:
        following = day + DAY
        nxt = offset_seconds(zone, following)
        if nxt != offset:
            out.append(Transition(_change_within(zone, day, offset), offset, nxt))
            offset = nxt
        day = following
    return tuple(out)


def _change_within(zone: ZoneInfo, day: datetime, before: int) -> datetime:
    """The first second of ``[day, day + 1 day)`` whose offset is not ``before``."""
    low, high = 0, int(DAY.total_seconds())  # offset(low) == before, offset(high) != before
    while high - low > 1:
        middle = (low + high) // 2
        if offset_seconds(zone, day + timedelta(seconds=middle)) == before:
            low = middle
        else:
            high = middle
    return day + timedelta(seconds=high)
