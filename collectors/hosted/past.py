"""Figures as of a past instant from a hosted store's API (``snapshot --as-of``).

A hosted store answers for a past instant ``T`` only through filters on its tickets'
own times: the open backlog at ``T`` is the tickets created before ``T`` that are open
now or were closed at or after ``T``, when the API can filter on both times. A store
whose API cannot is refused with :func:`refuse_past`, naming what it lacks, rather than
answered with today's figures. docs/backfill.md has the table per store.
"""

from __future__ import annotations

from collectors.base import Window
from monitor.errors import PastUnavailable

OPEN_THEN = "(open then)"
"""The status under which a store that knows which tickets were open at a past instant,
but not their status then, reports them."""


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
