"""The daemon's jobs run in simulated time, one instant after another (the demo uses it).

APScheduler (``monitor/scheduler.py``) runs the jobs on wall-clock intervals in a
thread pool: right for a deployment, but when a replay runs history many times faster
than real time, what runs before what then depends on how fast the machine is, and a
loaded machine tells a different story. Here the clock moves to the next instant a job
is due only once every job due at the current one has finished, in the order of
:func:`monitor.scheduler.daemon_jobs`; a slow machine takes longer to tell the same
story. :class:`Pacer` optionally holds that simulated time back to a multiple of the
wall clock, for people watching.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.clock import FakeClock
from monitor.scheduler import Job


class SteppedScheduler:
    """Runs ``jobs`` at simulated instants, moving ``clock``; each job first runs at its
    current time, then every ``interval`` (as APScheduler with ``next_run_time=now``)."""

    def __init__(self, jobs: Sequence[Job], clock: FakeClock) -> None:
        self._jobs = list(jobs)
        self._clock = clock
        self._due = {job.id: clock.now for job in self._jobs}

    @property
    def next_instant(self) -> datetime:
        """When the next job is due."""
        return min(self._due.values())

    def run_due(self) -> list[str]:
        """Move the clock to :attr:`next_instant` and run every job due then, in order.

        Returns the ids of the jobs that ran. An error in a job propagates: a replay
        that lost a job's work would tell a wrong story.
        """
        now = self.next_instant
        self._clock.now = now
        ran = []
        for job in self._jobs:
            if self._due[job.id] <= now:
                job.run()
                self._due[job.id] = now + job.interval
                ran.append(job.id)
        return ran


class Pacer:
    """How long to wait so that simulated time runs at most ``speed`` times real time.

    ``speed=None`` never waits. A machine too slow for ``speed`` is never asked to
    catch up: the replay runs late rather than skipping or reordering work.
    """

    def __init__(
        self,
        start: datetime,
        speed: float | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def delay(self, instant: datetime) -> float:
        """Seconds to wait before simulated ``instant`` may begin (0 when late)."""
        if self.speed is None:
            return 0.0
        due = self._origin + (instant - self.start).total_seconds() / self.speed
        return max(0.0, due - self._monotonic())
