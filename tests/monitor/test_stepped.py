"""The stepped scheduler: jobs run in simulated time, in order, whatever the machine's speed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config.loader import load_settings
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.scheduler import Job, daemon_jobs
from monitor.stepped import Pacer, SteppedScheduler
from tests.fakes import T0

MINUTE = timedelta(minutes=1)


class Recorder:
    """Jobs that record (job id, the clock they saw) when they run."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runs: list[tuple[str, timedelta]] = []

    def job(self, name: str, interval: timedelta) -> Job:
        return Job(name, interval, lambda: self.runs.append((name, self.clock() - T0)))


class TestSteppedScheduler:
    def test_every_job_runs_first_at_the_start(self) -> None:
        """Like next_run_time=now: all jobs are due at the clock's current instant."""
        clock = FakeClock(T0)
        jobs = Recorder(clock)
        scheduler = SteppedScheduler(
            [jobs.job("a", 15 * MINUTE), jobs.job("b", 60 * MINUTE)], clock
        )
        assert scheduler.next_instant == T0
        assert scheduler.run_due() == ["a", "b"]
        assert jobs.runs == [("a", timedelta(0)), ("b", timedelta(0))]

    def test_jobs_due_together_run_in_list_order_at_that_instant(self) -> None:
        """Over an hour, a 15-minute and a 30-minute job run at their instants, in order."""
        clock = FakeClock(T0)
        jobs = Recorder(clock)
        scheduler = SteppedScheduler(
            [jobs.job("poll", 15 * MINUTE), jobs.job("eval", 30 * MINUTE)], clock
        )
        while scheduler.next_instant <= T0 + 60 * MINUTE:
            scheduler.run_due()
        assert jobs.runs == [
            ("poll", 0 * MINUTE),
            ("eval", 0 * MINUTE),
            ("poll", 15 * MINUTE),
            ("poll", 30 * MINUTE),
            ("eval", 30 * MINUTE),
            ("poll", 45 * MINUTE),
            ("poll", 60 * MINUTE),
            ("eval", 60 * MINUTE),
        ]
        assert clock() == T0 + 60 * MINUTE

    def test_the_daemon_s_jobs_poll_first_and_deliver_last(self, tmp_path: Path) -> None:
        """daemon_jobs lists polls, upkeep, forecasts, rules, delivery, with their intervals."""
        settings = load_settings(
            text=f"""
store: {{url: "sqlite:///{tmp_path}/h.db", maintenance_interval: 6h}}
evaluation: {{interval: 30s}}
delivery: {{interval: 10s}}
forecasts: {{interval: 1h}}
sources:
  - kind: sql
    name: helpdesk
    url: "sqlite:///{tmp_path}/t.db"
    interval: 1m
    mapping: {{table: t, queue: q, status: s, created_at: c, open_statuses: [o]}}
"""
        )
        daemon = Daemon(settings, clock=FakeClock(T0))
        try:
            jobs = [(job.id, job.interval) for job in daemon_jobs(daemon)]
        finally:
            daemon.close()
        assert jobs == [
            ("poll:helpdesk", MINUTE),
            ("maintain", timedelta(hours=6)),
            ("forecast", timedelta(hours=1)),
            ("evaluate", timedelta(seconds=30)),
            ("deliver", timedelta(seconds=10)),
        ]


class FakeMonotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestPacer:
    def test_waits_for_the_wall_clock_to_reach_the_instant(self) -> None:
        """At 3600x, simulated +1 h may begin 1 s after the start; 0.25 s in, wait 0.75 s."""
        monotonic = FakeMonotonic()
        pacer = Pacer(T0, 3600.0, monotonic)
        monotonic.now += 0.25
        assert pacer.delay(T0 + timedelta(hours=1)) == 0.75

    def test_a_late_replay_does_not_wait(self) -> None:
        """Behind schedule (a slow machine), the next instant begins at once."""
        monotonic = FakeMonotonic()
        pacer = Pacer(T0, 3600.0, monotonic)
        monotonic.now += 5.0
        assert pacer.delay(T0 + timedelta(hours=1)) == 0.0

    def test_unpaced_never_waits(self) -> None:
        """speed=None runs as fast as the machine can."""
        assert Pacer(T0, None, FakeMonotonic()).delay(T0 + timedelta(days=3)) == 0.0
