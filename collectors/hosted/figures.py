"""Turning a hosted store's counts into :class:`QueueStats`, the same way for every store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from collectors.base import AGE_BUCKETS, QueueStats


def age_cutoffs(end: datetime) -> dict[str, datetime]:
    """``created`` before these instants means older than each of :data:`AGE_BUCKETS`."""
    return {name: end - timedelta(days=days) for name, days in AGE_BUCKETS}


def queue_stats(
    queue: str,
    open_by_status: Mapping[str, int],
    created: int,
    resolved: int,
    end: datetime,
    *,
    older_than: Mapping[str, int] | None = None,
    oldest_created: datetime | None = None,
) -> QueueStats:
    """One queue's figures; statuses with nothing open are left out, priority is ``""``
    (hosted counts are asked per status only). ``older_than`` None: aging not read."""
    age = None
    if oldest_created is not None:
        age = max(0.0, (end - oldest_created).total_seconds())
    return QueueStats(
        queue=queue,
        open_by_status_priority={(status, ""): n for status, n in open_by_status.items() if n},
        created=created,
        resolved=resolved,
        older_than=dict(older_than) if older_than is not None else None,
        oldest_age_s=age,
    )


def aged_stats(
    queue: str,
    open_by_status: Mapping[str, int],
    created: int,
    resolved: int,
    end: datetime,
    *,
    aging: bool,
    older: Callable[[datetime], int],
    oldest: Callable[[], datetime | None],
) -> QueueStats:
    """:func:`queue_stats`, with the aging read when ``aging``: ``older(cutoff)`` counts
    the open tickets created before each of :func:`age_cutoffs` (in their order), then
    ``oldest()`` gives the oldest open ticket's creation. Neither is called otherwise."""
    if not aging:
        return queue_stats(queue, open_by_status, created, resolved, end)
    return queue_stats(
        queue,
        open_by_status,
        created,
        resolved,
        end,
        older_than={name: older(cutoff) for name, cutoff in age_cutoffs(end).items()},
        oldest_created=oldest(),
    )
