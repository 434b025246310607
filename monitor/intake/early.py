"""When a pushed event makes a source poll early: pure decisions, ``now`` passed in.

:class:`EarlyPolls` debounces and coalesces: the first event asks for a poll ``delay``
later (events of a burst arrive within it and share that poll); an event while a poll
is pending asks for nothing more; and two early polls of a source are at least
``min_gap`` apart, so a store pushing without pause costs at most one poll a
``min_gap`` (the configuration check prices that against the plan's budget).

:class:`SeenDeliveries` remembers deliveries for ``window``, so the same delivery sent
again (a replay of a captured request, whose signature is still valid) polls nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class _Source:
    pending_at: datetime | None = None
    last_at: datetime | None = None


class EarlyPolls:
    """Decides when each source's early poll runs (not thread-safe: callers lock)."""

    def __init__(self, delay: timedelta, min_gap: timedelta) -> None:
        self.delay = delay
        self.min_gap = min_gap
        self._sources: dict[str, _Source] = {}

    def request(self, source: str, now: datetime) -> datetime | None:
        """When to poll ``source`` for an event arriving at ``now``; None when an early
        poll already pending covers it (the event is coalesced)."""
        state = self._sources.setdefault(source, _Source())
        if state.pending_at is not None and state.pending_at >= now:
            return None
        at = now + self.delay
        if state.last_at is not None:
            at = max(at, state.last_at + self.min_gap)
        state.pending_at = state.last_at = at
        return at


class SeenDeliveries:
    """Deliveries seen within ``window`` (at most ``capacity``, the oldest forgotten first)."""

    def __init__(self, window: timedelta, capacity: int = 10_000) -> None:
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def first_time(self, delivery: str, now: datetime) -> bool:
        """True the first time ``delivery`` is seen within the window; remembers it."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.window and len(self._seen) < self.capacity:
                break
            del self._seen[oldest]
        if delivery in self._seen:
            return False
        self._seen[delivery] = now
        return True
