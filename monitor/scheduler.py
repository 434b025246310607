"""The daemon's recurring jobs, and their APScheduler wiring for a deployment.

:func:`daemon_jobs` lists the jobs: one per source, one for rules, one for delivery, one
for upkeep, one for forecasts. :func:`build_scheduler` runs them on wall-clock
intervals in a thread pool; ``monitor/stepped.py`` runs the same list in simulated time
(the demo). Under APScheduler every job has ``max_instances=1`` and coalescing, so a
slow run delays the next instead of piling up; each skipped or late run is counted in
``backlog_scheduler_missed_runs_total{job}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.daemon import Daemon
from monitor.errors import StoreError
from monitor.report.job import run_report_job
from monitor.store.engine import describe

REPORT_CHECK = timedelta(hours=1)
"""How often the scheduled report job looks for a period end without its report."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One recurring job of the daemon."""

    id: str
    interval: timedelta
    run: Callable[[], object]


def daemon_jobs(daemon: Daemon) -> list[Job]:
    """The daemon's jobs, in the order they run when several are due at one instant.

    Polls come first (they bring the data), then upkeep and forecasts (which read it),
    then the rules (which read both) and delivery. APScheduler starts due jobs
    concurrently, so the order only binds the stepped scheduler.
    """
    settings = daemon.settings

    def evaluate_then_deliver() -> None:
        # Notifications just enqueued go out now, not at the next delivery tick. (Not by
        # rescheduling the deliver job: that takes the scheduler's lock, which shutdown
        # holds while it waits for this very job.)
        daemon.evaluate()
        daemon.deliver()

    jobs = [
        Job(f"poll:{source.name}", source.interval, partial(daemon.poll, source.name))
        for source in settings.sources
    ]
    if daemon.leadership.renews:  # first: the jobs after it ask who leads
        jobs.insert(0, Job("lease", settings.lease.renew_interval, daemon.hold_lease))
    jobs.append(Job("maintain", settings.store.maintenance_interval, daemon.maintain))
    if settings.forecasts.enabled:
        jobs.append(Job("forecast", settings.forecasts.interval, daemon.forecast))
    jobs.append(Job("evaluate", settings.evaluation.interval, evaluate_then_deliver))
    jobs.append(Job("deliver", settings.delivery.interval, daemon.deliver))
    if settings.report.schedule != "off":
        jobs.append(Job("report", REPORT_CHECK, partial(run_report_job, daemon)))
    return jobs


def build_scheduler(daemon: Daemon) -> BackgroundScheduler:
    """Schedule the daemon's jobs on wall-clock intervals, each first run now."""
    workers = max(4, len(daemon.collectors) + 3)
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone="UTC",
    )
    jitter = daemon.settings.scheduler.jitter.total_seconds()
    for job in daemon_jobs(daemon):
        seconds = max(0.05, job.interval.total_seconds())
        scheduler.add_job(
            survive_store_errors(job),
            "interval",
            seconds=seconds,
            jitter=min(jitter, seconds / 4) or None,
            id=job.id,
            name=job.id,
            next_run_time=datetime.now(UTC),
        )

    def missed(event: JobEvent) -> None:
        daemon.stats.count_missed(event.job_id)
        log.info("job %s skipped a run", event.job_id, extra={"job": event.job_id})

    scheduler.add_listener(missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def poll_early(scheduler: BackgroundScheduler, source: str, at: datetime) -> None:
    """Run ``source``'s poll at ``at`` unless it is due sooner (webhook intake).

    The poll job's interval then counts from this run: an early poll takes the place of
    the next one, it is not one more.
    """
    job = scheduler.get_job(f"poll:{source}")
    if job is None or (job.next_run_time is not None and job.next_run_time <= at):
        return
    job.modify(next_run_time=at)


def survive_store_errors(job: Job) -> Callable[[], object]:
    """``job.run``, with a failure of the history store logged in one line, not a traceback.

    The job runs again at its next interval, and whatever it did not commit is done then
    (a poll's window stays open, an outbox message stays pending). The stepped scheduler
    does not use this: a replay that lost a job's work would tell a wrong story.
    """

    def run() -> object:
        try:
            return job.run()
        except (sa.exc.DBAPIError, StoreError) as err:
            reason = describe(err) if isinstance(err, sa.exc.DBAPIError) else str(err)
            log.warning(
                "job %s failed, it runs again in %gs: %s",
                job.id,
                job.interval.total_seconds(),
                reason,
                extra={"job": job.id},
            )
            return None

    return run
