"""Burrow-style queue status over a window of samples (``evaluator/caching.go``).

Burrow judges a consumer by the trend of its offsets, not by a lag threshold. For a
ticket queue, with samples ``(ts, backlog, resolved_total)`` in the window and the
rules tried in this order:

- OK: the backlog met the target (default 0) at some sample in the window.
- STOP: no solves for longer than the window spans (``now - last_solve > span``;
  Burrow's ``now - last_commit > last_commit - first_commit``).
- STALL: the resolved counter stayed flat across the window while backlog > target.
- WARN: the backlog never fell between consecutive samples.
- OK otherwise (the backlog is coming down, if slowly).

Severity grows OK < WARN < STALL < STOP; the stabiliser blocks scale-down at WARN or worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise


class QueueStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"

    @property
    def severity(self) -> int:
        """0 for OK up to 3 for STOP."""
        return _SEVERITY[self]

    def at_least(self, other: QueueStatus) -> bool:
        """Whether this status is as bad as ``other`` or worse."""
        return self.severity >= other.severity


_SEVERITY = {QueueStatus.OK: 0, QueueStatus.WARN: 1, QueueStatus.STALL: 2, QueueStatus.STOP: 3}


def worst(statuses: Sequence[QueueStatus]) -> QueueStatus:
    """The worst status (a group takes its worst member's, as in Burrow); OK when empty."""
    return max(statuses, key=lambda s: s.severity, default=QueueStatus.OK)


@dataclass(frozen=True)
class Sample:
    """One observation of a queue: open backlog and the cumulative solved count."""

    ts: datetime
    backlog: float
    resolved_total: float


@dataclass(frozen=True)
class Evaluation:
    """A status with the reason, in words, for logs and webhook payloads."""

    status: QueueStatus
    reason: str


def evaluate(
    samples: Sequence[Sample],
    now: datetime,
    target: float = 0.0,
    last_solve_at: datetime | None = None,
) -> Evaluation:
    """The status of a queue from its samples in the evaluation window.

    Args:
        samples: the window's samples, any order (the caller picks the window, 30-60 min).
        now: evaluation time.
        target: the backlog counted as "caught up" (Burrow's zero lag).
        last_solve_at: latest solve the store knows of before the window, if any.
    """
    window = sorted(samples, key=lambda s: s.ts)
    if len(window) < 2:
        return Evaluation(QueueStatus.OK, "fewer than two samples: no trend yet")
    if any(s.backlog <= target for s in window):
        return Evaluation(QueueStatus.OK, f"backlog reached {target:g} in the window")
    first, last = window[0], window[-1]
    last_solve = _last_solve(window) or last_solve_at or first.ts
    span = last.ts - first.ts
    if now - last_solve > span:
        return Evaluation(QueueStatus.STOP, f"no solves since {last_solve.isoformat()}")
    if last.resolved_total <= first.resolved_total:
        return Evaluation(QueueStatus.STALL, f"no solves in {span} while backlog > {target:g}")
    if all(b.backlog >= a.backlog for a, b in pairwise(window)):
        return Evaluation(QueueStatus.WARN, f"backlog never fell in {span}")
    return Evaluation(QueueStatus.OK, f"backlog falling at times in {span}")


def _last_solve(window: Sequence[Sample]) -> datetime | None:
    for prev, cur in zip(window[-2::-1], window[:0:-1], strict=True):
        if cur.resolved_total > prev.resolved_total:
            return cur.ts
    return None
