"""APScheduler wiring: one job per source, one for rules, one for delivery, one for upkeep.

Every job has ``max_instances=1`` and coalescing, so a slow run delays the next
instead of piling up; each skipped or late run is counted in
``backlog_scheduler_missed_runs_total{job}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.daemon import Daemon

log = logging.getLogger(__name__)


def build_scheduler(daemon: Daemon, speedup: float = 1.0) -> BackgroundScheduler:
    """Schedule the daemon's jobs; ``speedup`` divides every interval (the demo uses it)."""
    settings = daemon.settings
    workers = max(4, len(daemon.collectors) + 3)
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone="UTC",
    )
    jitter = settings.scheduler.jitter.total_seconds() / speedup

    def every(interval: timedelta, func: Callable[..., Any], job_id: str, *args: Any) -> None:
        seconds = max(0.05, interval.total_seconds() / speedup)
        scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            jitter=min(jitter, seconds / 4) or None,
            id=job_id,
            name=job_id,
            args=args,
            next_run_time=datetime.now(UTC),
        )

    for source in settings.sources:
        every(source.interval, daemon.poll, f"poll:{source.name}", source.name)

    def evaluate_then_deliver() -> None:
        # Notifications just enqueued go out now, not at the next delivery tick. (Not by
        # rescheduling the deliver job: that takes the scheduler's lock, which shutdown
        # holds while it waits for this very job.)
        daemon.evaluate()
        daemon.deliver()

    every(settings.evaluation.interval, evaluate_then_deliver, "evaluate")
    every(settings.delivery.interval, daemon.deliver, "deliver")
    every(settings.store.maintenance_interval, daemon.maintain, "maintain")
    if settings.forecasts.enabled:
        every(settings.forecasts.interval, daemon.forecast, "forecast")

    def missed(event: JobEvent) -> None:
        daemon.stats.count_missed(event.job_id)
        log.info("job %s skipped a run", event.job_id, extra={"job": event.job_id})

    scheduler.add_listener(missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler
