"""A source's request budget: requests per minute, daily credits and the store's own word.

Time is a callable returning epoch seconds (the wall clock by default, a simulated one in
tests), so nothing here sleeps: :meth:`Budget.wait` says how long to wait, the client
decides whether to sleep or to give up.

The per-minute limit is kept as a sliding window of the last 60 s of requests (a token
bucket refilled continuously lets up to twice its rate through in one minute after an
idle spell; the plans count per minute, so this never does).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.errors import RateLimited

MINUTE = 60.0
DAY = 86400.0


@dataclass
class Budget:
    """What one source may still send.

    Attributes:
        source: the source's name (for error messages).
        per_minute: requests allowed in any 60 s, or None for no limit of ours.
        daily_credits: credits allowed per UTC day, or None when the store has none.
        clock: epoch seconds now.
    """

    source: str
    per_minute: int | None
    daily_credits: int | None
    clock: Callable[[], float]
    _sent: deque[float] = field(default_factory=deque)
    _day: int = -1
    _spent: int = 0
    _store_daily: int | None = None
    _store_minute: int | None = None
    _store_minute_at: float = 0.0
    _blocked_until: float = 0.0

    def wait(self, credits: int = 1) -> float:
        """Seconds until a request costing ``credits`` may be sent (0 = now).

        Raises:
            RateLimited: the day's credits are spent (ours or the store's count).
        """
        now = self.clock()
        self._roll_day(now)
        left = self.daily_left()
        if left is not None and left < credits:
            retry = (self._day + 1) * DAY - now
            raise RateLimited(
                f"{self.source}: the day's API credits are spent ({self._spent} used)",
                retry_after=retry,
            )
        waits = [self._blocked_until - now]
        while self._sent and self._sent[0] <= now - MINUTE:
            self._sent.popleft()
        if self.per_minute is not None and len(self._sent) >= self.per_minute:
            waits.append(self._sent[len(self._sent) - self.per_minute] + MINUTE - now)
        if self._store_minute is not None and self._store_minute <= 0:
            waits.append(self._store_minute_at + MINUTE - now)
        return max(0.0, *waits)

    def spend(self, credits: int = 1) -> None:
        """Record a request sent now."""
        now = self.clock()
        self._roll_day(now)
        self._sent.append(now)
        self._spent += credits
        if self._store_daily is not None:
            self._store_daily -= credits
        if self._store_minute is not None:
            self._store_minute -= 1

    def observe(self, *, minute_left: int | None = None, daily_left: int | None = None) -> None:
        """What the store's remaining-quota headers said after the latest request."""
        if minute_left is not None:
            self._store_minute, self._store_minute_at = minute_left, self.clock()
        if daily_left is not None:
            self._store_daily = daily_left

    def block(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the store answered 429)."""
        self._blocked_until = max(self._blocked_until, self.clock() + seconds)

    def daily_left(self) -> int | None:
        """Credits left today: the smaller of our count and the store's, None if no limit."""
        ours = None if self.daily_credits is None else self.daily_credits - self._spent
        known = [x for x in (ours, self._store_daily) if x is not None]
        return min(known) if known else None

    def remaining(self) -> int | None:
        """The quota left as the store last reported it (daily first), else ours."""
        if self._store_daily is not None:
            return self._store_daily
        if self._store_minute is not None:
            return self._store_minute
        return self.daily_left()

    def _roll_day(self, now: float) -> None:
        day = int(now // DAY)
        if day != self._day:
            self._day, self._spent, self._store_daily = day, 0, None
