"""Clocks. Decision code never reads one: the daemon passes ``now`` in."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware, in UTC."""
    return datetime.now(UTC)


class ReplayClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``start``."""

    def __init__(
        self, start: datetime, speed: float, monotonic: Callable[[], float] = time.monotonic
    ):
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now
