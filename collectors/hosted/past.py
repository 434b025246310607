"""Figures as of a past instant from a hosted store's API (``snapshot --as-of``).

A hosted store answers for a past instant ``T`` only through filters on its tickets'
own times: the open backlog at ``T`` is the tickets created before ``T`` that are open
now or were closed at or after ``T``, when the API can filter on both times. A store
whose API cannot is refused with :func:`refuse_past`, naming what it lacks, rather than
answered with today's figures. docs/backfill.md has the table per store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from collectors.base import QueueStats, Window
from collectors.hosted.figures import aged_stats
from monitor.errors import PastUnavailable

Q = TypeVar("Q")

OPEN_THEN = "(open then)"
"""The status under which a store that knows which tickets were open at a past instant,
but not their status then, reports them."""


def past_stats(
    queue: str,
    window: Window,
    parts: Sequence[Q],
    *,
    count: Callable[[Q, datetime], int],
    oldest: Callable[[Q, datetime], datetime | None],
    flow: Callable[[], tuple[int, int]],
    aging: bool,
) -> QueueStats:
    """One queue as of ``window.end`` (``T``) from a store that filters on its tickets'
    own times. The tickets open at ``T`` are split in ``parts`` that do not overlap
    (open now; closed at or after ``T``): open then is the sum over the parts of
    ``count(part, T)``, reported under :data:`OPEN_THEN`; aging likewise with each
    cut-off, and the oldest is the oldest of the parts' ``oldest(part, T)``.

    Args:
        queue: the queue's name.
        window: the past window; ``flow()`` counts its created and resolved tickets.
        parts: the store's queries, one per part.
        count: the tickets of a part created before an instant.
        oldest: the creation of a part's oldest ticket created before an instant.
        flow: (created, resolved) in ``window``, asked after the open count.
        aging: whether the source reads aging.
    """
    at = window.end
    open_then = sum(count(part, at) for part in parts)
    created, resolved = flow()

    def first() -> datetime | None:
        found = [oldest(part, at) for part in parts]
        return min((f for f in found if f is not None), default=None)

    return aged_stats(
        queue,
        {OPEN_THEN: open_then},
        created,
        resolved,
        at,
        aging=aging,
        older=lambda cutoff: sum(count(part, cutoff) for part in parts),
        oldest=first,
    )


def refuse_past(window: Window, source: str, store: str, missing: str) -> None:
    """Raise :class:`PastUnavailable` when ``window`` asks for a past instant.

    Args:
        window: the poll's window (``historical`` for ``snapshot --as-of``).
        source: the source's name.
        store: the product (``Freshdesk``).
        missing: what its API lacks to answer for a past instant.
    """
    if window.historical:
        raise PastUnavailable(
            f"{source}: figures as of a past instant are not available for {store}:"
            f" {missing}; run snapshot without --as-of for the live figures"
        )
