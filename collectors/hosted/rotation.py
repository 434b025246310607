"""Counts read for a slice of the queues each poll, the others held from their last read.

Also the fixed schedule of mirror reconciliations (:func:`in_slot`): Fxiaoke and Udesk
check a few queues' store totals against their mirror each poll, every queue once a period.

A store whose exact counts cost a request per queue (Help Scout's folders) can read a
slice of its queues each poll so that every queue is read once per rotation
(:func:`due` picks the slice), holding the others' last counts. Such a collector
implements :class:`RotatingCounts`: after each successful poll the daemon exports when
each queue's counts were read, ``backlog_collector_counts_read_timestamp_seconds``
(``time() -`` it is how old they are).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable


def due(read_at: Mapping[int, datetime], ids: Sequence[int], per_poll: int) -> list[int]:
    """The queues to read now: every one never read, then those read longest ago (ties
    in ``ids``' order) up to ``per_poll`` in all; in ``ids``' order."""
    never = [i for i in ids if i not in read_at]
    known = sorted((read_at[i], n, i) for n, i in enumerate(ids) if i in read_at)
    chosen = set(never) | {i for _, _, i in known[: max(0, per_poll - len(never))]}
    return [i for i in ids if i in chosen]


def slots(interval: timedelta, every: timedelta) -> int:
    """Polls in one period ``every`` (at least one)."""
    return max(1, int(every / interval))


def per_slot(count: int, interval: timedelta, every: timedelta) -> int:
    """The most of ``count`` queues one poll takes when each is taken once per ``every``."""
    return math.ceil(count / slots(interval, every))


def in_slot(now: datetime, count: int, interval: timedelta, every: timedelta) -> list[int]:
    """The queues (by index) whose turn is the poll at ``now``: the period ``every`` is cut
    into slots of one ``interval`` (by the wall clock, so a restart keeps the schedule),
    and queue ``j`` belongs to slot ``j * slots // count`` (a queue a slot when there are
    fewer queues than slots, else ``count / slots`` rounded either way)."""
    n = slots(interval, every)
    slot = int(now.timestamp() // interval.total_seconds()) % n
    return [j for j in range(count) if j * n // count == slot]


@runtime_checkable
class RotatingCounts(Protocol):
    """A collector whose queues' counts may be older than its latest poll."""

    def counts_read_at(self) -> Mapping[str, datetime]:
        """When each queue's counts were last read, by queue name (read ones only)."""
        ...
