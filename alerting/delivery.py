"""Outbox retry policy (pure): when to try a message again, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.errors import NotifierError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, for at most ``give_up_after``."""

    initial: timedelta = timedelta(seconds=5)
    maximum: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(days=3)
    jitter: float = 0.2

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Delay after the ``attempts``-th failed attempt (1-based)."""
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
    if now - created_at >= policy.give_up_after:
        return Verdict(True, None, f"gave up after {attempts} attempts: {error}")
    delay = policy.backoff(attempts, rng)
    if error.retry_after is not None:
        delay = max(delay, timedelta(seconds=error.retry_after))
    return Verdict(False, now + delay, str(error))
