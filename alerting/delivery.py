"""Outbox retry policy (pure): when to try a message again, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.errors import NotifierError

STANDARD_WEBHOOKS_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
"""Delays after each failed attempt: 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h (then give up)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retry delays with jitter: a fixed schedule (Standard Webhooks) or exponential backoff.

    With a ``schedule`` a message is given up after its last entry; otherwise after
    ``give_up_after``.
    """

    initial: timedelta = timedelta(seconds=5)
    maximum: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(days=3)
    jitter: float = 0.2
    schedule: tuple[timedelta, ...] | None = None

    def exhausted(self, attempts: int) -> bool:
        """Whether the schedule has no delay left after ``attempts`` failures."""
        return self.schedule is not None and attempts > len(self.schedule)

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Delay after the ``attempts``-th failed attempt (1-based)."""
        if self.schedule is not None:
            capped = self.schedule[min(attempts, len(self.schedule)) - 1].total_seconds()
            spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
            return timedelta(seconds=capped * spread)
        base = self.initial.total_seconds() * (2 ** max(0, attempts - 1))
        capped = min(base, self.maximum.total_seconds())
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return timedelta(seconds=capped * spread)


@dataclass(frozen=True)
class Verdict:
    """What to do with a message after a failed attempt."""

    dead: bool
    next_attempt_at: datetime | None
    reason: str


def after_failure(
    error: NotifierError,
    attempts: int,
    created_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Verdict:
    """Decide the fate of a message whose ``attempts``-th attempt failed with ``error``."""
    if not error.retryable:
        return Verdict(True, None, f"final: {error}")
    if policy.exhausted(attempts) or (
        policy.schedule is None and now - created_at >= policy.give_up_after
    ):
        return Verdict(True, None, f"gave up after {attempts} attempts: {error}")
    delay = policy.backoff(attempts, rng)
    if error.retry_after is not None:
        delay = max(delay, timedelta(seconds=error.retry_after))
    return Verdict(False, now + delay, str(error))
