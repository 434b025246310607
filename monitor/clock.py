"""Clocks. Decision code never reads one: the daemon passes ``now`` in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware, in UTC."""
    return datetime.now(UTC)


class FakeClock:
    """A clock moved by hand: by tests, and by the stepped scheduler of a replay."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now
