"""1,000 queues for 24 simulated hours: memory, scrape time, job durations, the outbox.

Run ``python -m benchmarks.load.soak`` from the project root (``--quick`` runs 3
simulated hours, ``--queues``/``--hours`` set the size; ``--trace`` records what grows
each simulated hour, :mod:`benchmarks.load.growth`; ``--heap`` where the RSS lives
each hour and the Python arenas each job added, cheaply, :mod:`benchmarks.load.heap`;
``--profile`` writes each job's cProfile statistics). A simulated hour took 5 to 13
minutes of wall on two cores shared with other sessions (load average about 20), so
the 24 hours take hours; the figures so far are saved at every simulated hour to
``benchmarks/results/<out>.partial.json``.

The daemon is the shipping one (:class:`monitor.daemon.Daemon` on a SQLite store, its
jobs from :func:`monitor.scheduler.daemon_jobs` stepped by
:class:`monitor.stepped.SteppedScheduler` on a fake clock, its ``/metrics`` served by
:func:`monitor.http.build_app`, signed webhooks to a real HTTP server on 127.0.0.1).
Only the ticket store is replaced: a scripted collector answers every poll with the
1,000 queues' figures, each queue the real hourly series of a ServiceNow assignment
group (``benchmarks.forecasts.speed.windows``, seeded windows of the protocol's
series; the queues take ``--distinct`` windows in turn, each on its own forecast
phase). Before the day starts the store holds three weeks of those queues' hourly
rollups and their forecast states (warmed up as a daemon that ran those weeks would
hold them), so the hourly forecast job runs at full size from its first tick.

Configuration: polls and rule evaluation every minute, delivery every 5 s, upkeep
every 10 min, forecasts every hour (the defaults, with one-minute polls); two rules
(backlog above the 95th percentile of the data for 10 min; a forecast rule).

Figures, each beside its goal:

* RSS (``psutil``, after ``gc.collect()``) at every simulated hour; growth from the
  end of the warm-up (the first 2 h: the row cache fills its 2 h horizon) to the end
  (goal: under 5 %);
* ``GET /metrics`` through the ASGI app at the end: series count and median wall time
  of 5 scrapes (goal: about 30,000 series in under 250 ms); the first one renders, the
  next four are served from the exposition cache (:mod:`monitor.exposition`), so the
  median is a cached scrape; ``benchmarks.load.scrape`` measures both kinds at 30,000;
* each job's longest run and its 99th percentile, wall time, against its interval
  (goal: every evaluation and forecast run ends inside its interval);
* notifications enqueued and delivered; outbox rows still pending (goal: 0).

The machine is shared: wall times carry other sessions' load (printed at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import sqlalchemy as sa

from benchmarks.forecasts.speed import HISTORY, SOURCE, relabel, rows_of, warm, windows
from benchmarks.load import RESULTS, save
from benchmarks.load.growth import Growth
from benchmarks.load.heap import Heap
from benchmarks.suite import machine
from collectors.base import QueueStats, Snapshot, Window
from config.loader import load_settings
from config.settings import ForecastingSettings
from forecasts.codec import decode, encode
from forecasts.types import HourlySeries
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.forecasting import engine_settings
from monitor.http import build_app, daemon_registry
from monitor.scheduler import Job, daemon_jobs
from monitor.stepped import SteppedScheduler
from monitor.store import forecasting as forecast_store
from monitor.store import outbox as outbox_store
from monitor.store.engine import migrate, open_store
from monitor.store.outbox import DELIVERED
from monitor.store.schema import outbox, rollups
from tests.fakes import RecordingReceiver, ScriptedCollector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WARM_UP_HOURS = 2
GOALS = {"rss_growth_pct": 5.0, "scrape_ms": 250.0, "scrape_series": 30_000, "pending": 0}
CONFIG = """
store:
  url: "sqlite:///{store}"
  maintenance_interval: 10m
http:
  listen: "127.0.0.1:9464"
delivery:
  allowed_destinations: ["127.0.0.1"]
scheduler:
  jitter: 0s
sources:
  - kind: sql
    name: {source}
    url: "sqlite://"
    interval: 1m
    mapping: {{table: t, queue: q, status: s, created_at: c, open_statuses: [open]}}
rules:
  - name: BacklogHigh
    metric: open_tickets
    op: ">"
    threshold: {high}
    for: 10m
  - name: BacklogSurgeAhead
    kind: forecast
    horizon: 6h
    band: upper
    threshold: {ahead}
receivers:
  - kind: webhook
    name: ops
    url: "{receiver}"
"""


class Feed:
    """The scripted ticket store: each queue's real hourly figures, minute by minute."""

    def __init__(self, names: list[str], series: list[HourlySeries], start: datetime) -> None:
        self.names, self.series, self.start = names, series, start

    def __call__(self, window: Window) -> Snapshot:
        hour = HISTORY + int((window.end - self.start).total_seconds() // 3600)
        minute = window.end.minute
        stats = tuple(
            QueueStats(
                queue=name,
                open_by_status_priority={("open", "3 - Moderate"): int(s.open[hour])},
                created=spread(int(s.created[hour]), minute),
                resolved=spread(int(s.resolved[hour]), minute),
            )
            for name, s in zip(self.names, self.series, strict=True)
        )
        return Snapshot(source=SOURCE, window=window, queues=stats)


def spread(per_hour: int, minute: int) -> int:
    """The share of an hour's count that falls in one minute (the hour's total is kept)."""
    return per_hour * (minute + 1) // 60 - per_hour * minute // 60


@dataclass
class Timings:
    """Wall and CPU seconds of every run of every job (CPU: this process's, so a job's
    own; the receiver's thread is included while it runs). With ``profile``, each job
    runs under a :class:`cProfile.Profile` of its own (``--profile``)."""

    runs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    profile: bool = False
    profiles: dict[str, cProfile.Profile] = field(default_factory=dict)

    def wrap(self, job: Job) -> Job:
        def timed(run: Callable[[], object] = job.run, key: str = job.id) -> None:
            profiler = self.profiles.setdefault(key, cProfile.Profile()) if self.profile else None
            started, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            try:
                run()
            finally:
                if profiler is not None:
                    profiler.disable()
            self.cpu[key].append(time.process_time() - cpu)
            self.runs[key].append(time.perf_counter() - started)

        return Job(job.id, job.interval, timed)

    def dump(self, name: str | None) -> None:
        """Each job's profile as ``benchmarks/results/<name>.<job>.pstats`` (if profiled)."""
        if name is None:
            return
        RESULTS.mkdir(parents=True, exist_ok=True)
        for key, profiler in self.profiles.items():
            profiler.dump_stats(RESULTS / f"{name}.{key.replace(':', '_')}.pstats")


def prepare(
    store: sa.Engine, queues: int, hours: int, distinct: int, workers: int
) -> tuple[list[str], list[HourlySeries]]:
    """Three weeks of rollups and warmed forecast states for every queue, in ``store``."""
    base = [relabel(w, T0) for w in windows(distinct, HISTORY + hours + 1)]
    series = [base[i % distinct] for i in range(queues)]
    names = [f"q{i:04d}" for i in range(queues)]
    with store.begin() as conn:
        for name, s in zip(names, series, strict=True):
            conn.execute(rollups.insert(), rows_of(name, s.head(HISTORY), T0))
    settings = ForecastingSettings()  # the daemon's defaults, which the soak's config keeps
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [
            (n, s.head(HISTORY), settings.ets_estimation)
            for n, s in zip(names[:distinct], base, strict=True)
        ]
        warmed = list(pool.map(warm, jobs))
    fingerprint = engine_settings(settings).fingerprint()
    with store.begin() as conn:
        for i, name in enumerate(names):
            state = decode(encode(warmed[i % distinct]))
            forecast_store.save_state(conn, (SOURCE, name), state, fingerprint)
    return names, series


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def scrape(client: TestClient, times: int = 5) -> tuple[int, list[float], list[float]]:
    """Series in one ``/metrics`` answer; wall and CPU seconds of ``times`` scrapes (CPU:
    this process, the ASGI app's thread included)."""
    walls, cpus, text = [], [], ""
    for _ in range(times):
        started, cpu = time.perf_counter(), time.process_time()
        answer = client.get("/metrics")
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        text = answer.text
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return series, walls, cpus


def soak(
    queues: int,
    hours: int,
    distinct: int,
    workers: int,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    growth: Growth | None = None,
    profile: str | None = None,
    heap: Heap | None = None,
) -> dict[str, Any]:
    """Run the day; returns the figures. ``checkpoint`` is given the figures so far at every
    simulated hour (a long run that is stopped still leaves its hourly RSS and job times);
    ``growth`` (``--trace``) records what Python holds at every simulated hour; with
    ``profile`` (``--profile``) each job's cProfile statistics are written to
    ``benchmarks/results/<profile>.<job>.pstats`` at the end; ``heap`` (``--heap``)
    records where the RSS lives at every simulated hour (:mod:`benchmarks.load.heap`)."""
    folder = Path(tempfile.mkdtemp(prefix="backlog-soak-"))
    store = open_store(f"sqlite:///{folder}/history.db")
    migrate(store)
    started = time.perf_counter()
    names, series = prepare(store, queues, hours, distinct, workers)
    prepare_s = time.perf_counter() - started
    opens = np.concatenate([s.open[HISTORY : HISTORY + hours] for s in series])
    receiver = RecordingReceiver()
    text = CONFIG.format(
        store=f"{folder}/history.db",
        source=SOURCE,
        high=float(np.percentile(opens, 95)),
        ahead=float(np.percentile(opens, 97)),
        receiver=receiver.url,
    )
    clock = FakeClock(T0 + timedelta(hours=HISTORY))
    collector = ScriptedCollector(SOURCE, Feed(names, series, clock.now))
    daemon = Daemon(
        load_settings(text=text), clock=clock, collectors={SOURCE: collector}, engine=store
    )
    daemon.migrate()
    timings = Timings(profile=profile is not None)
    scheduler = SteppedScheduler(wrapped_jobs(daemon, timings, heap), clock)
    client = TestClient(build_app(daemon, daemon_registry(daemon)))
    end = clock.now + timedelta(hours=hours)
    next_hour = clock.now + timedelta(hours=1)
    rss: list[float] = [rss_mb()]
    if heap is not None:
        heap(0, rss[0], daemon)
    if growth is not None:  # after the warm-up's worker processes (they would trace too)
        growth.begin()
    wall0 = time.perf_counter()
    while scheduler.next_instant < end:
        scheduler.run_due()
        if clock.now >= next_hour:
            rss.append(rss_mb())
            next_hour += timedelta(hours=1)
            wall = time.perf_counter() - wall0
            line = f"  {len(rss) - 1:3d} h simulated in {wall:.0f} s, RSS {rss[-1]:.0f} MB"
            print(line, flush=True)
            recorded = observe(len(rss) - 1, rss[-1], daemon, growth, heap)
            if checkpoint is not None:
                checkpoint(
                    {
                        "simulated_hours_done": len(rss) - 1,
                        "rss_mb_hourly": rss,
                        "day_wall_s_so_far": wall,
                        "jobs_so_far": job_figures(timings, daemon),
                        **recorded,
                    }
                )
    daemon.deliver()
    day_s = time.perf_counter() - wall0
    timings.dump(profile)
    series_count, scrape_walls, scrape_cpus = scrape(client)
    with store.connect() as conn:
        by_status = outbox_store.pending_counts(conn)
        pending = sum(n for (_, status), n in by_status.items() if status != DELIVERED)
        enqueued = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    if growth is not None:
        growth.stop()
    daemon.close()
    receiver.close()
    store.dispose()
    warm = warm_rss(rss)
    return {
        "queues": queues,
        "simulated_hours": hours,
        "prepare_s": prepare_s,
        "day_wall_s": day_s,
        "rss_mb_hourly": rss,
        "rss_growth_pct": 100 * (rss[-1] - warm) / warm,
        "scrape_series": series_count,
        "scrape_ms_median": 1000 * statistics.median(scrape_walls),
        "scrape_ms": [1000 * w for w in scrape_walls],
        "scrape_cpu_ms_median": 1000 * statistics.median(scrape_cpus),
        "jobs": job_figures(timings, daemon),
        "notifications_enqueued": enqueued,
        "notifications_received": len(receiver.received),
        "outbox_pending": pending,
        "machine": machine(),
        **observed(growth, heap),
    }


def wrapped_jobs(daemon: Daemon, timings: Timings, heap: Heap | None) -> list[Job]:
    """The daemon's jobs, timed (and with ``--heap``, their arenas counted)."""
    jobs = [timings.wrap(j) for j in daemon_jobs(daemon)]
    return jobs if heap is None else [heap.wrap(j) for j in jobs]


def observe(
    hour: int, rss: float, daemon: Daemon, growth: Growth | None, heap: Heap | None
) -> dict[str, Any]:
    """Record (and print) what ``--trace`` and ``--heap`` look at, at the end of ``hour``;
    returns their hours so far."""
    if growth is not None:
        traced = growth(hour)
        print(f"      traced {traced['traced_mb']:.0f} MB: {traced.get('sites_kb')}")
    if heap is not None:
        parts = heap(hour, rss, daemon)
        print(f"      {parts['maps_mb']} malloc {parts['malloc_mb']}", flush=True)
    return observed(growth, heap)


def observed(growth: Growth | None, heap: Heap | None) -> dict[str, Any]:
    """The hours ``--trace`` and ``--heap`` recorded, for the saved figures."""
    return {
        **({"growth": growth.hours} if growth is not None else {}),
        **({"heap": heap.hours} if heap is not None else {}),
    }


def job_figures(timings: Timings, daemon: Daemon) -> dict[str, dict[str, float]]:
    """Each job's runs, interval, longest, 99th percentile and median wall seconds; its
    median and total CPU seconds."""
    intervals = {j.id: j.interval.total_seconds() for j in daemon_jobs(daemon)}
    return {
        key: {
            "runs": len(walls),
            "interval_s": intervals[key],
            "max_s": max(walls),
            "p99_s": float(np.percentile(walls, 99)),
            "median_s": statistics.median(walls),
            "cpu_median_s": statistics.median(timings.cpu[key]),
            "cpu_total_s": sum(timings.cpu[key]),
        }
        for key, walls in timings.runs.items()
    }


def warm_rss(hourly: list[float]) -> float:
    """RSS at the end of the warm-up (the last sample if the run was shorter)."""
    return hourly[min(WARM_UP_HOURS, len(hourly) - 1)]


def verdicts(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(figure, measured, goal, met) rows."""
    rows = [
        (
            "RSS growth after warm-up",
            f"{r['rss_growth_pct']:+.1f} % ({warm_rss(r['rss_mb_hourly']):.0f} -> "
            f"{r['rss_mb_hourly'][-1]:.0f} MB)",
            f"< {GOALS['rss_growth_pct']:.0f} %",
            r["rss_growth_pct"] < GOALS["rss_growth_pct"],
        ),
        (
            f"scrape of {r['scrape_series']:,} series",
            f"{r['scrape_ms_median']:.0f} ms wall, "
            f"{r.get('scrape_cpu_ms_median', float('nan')):.0f} ms CPU (median of 5)",
            f"< {GOALS['scrape_ms']:.0f} ms at ~{GOALS['scrape_series']:,}",
            r["scrape_ms_median"] < GOALS["scrape_ms"],
        ),
    ]
    for key, job in sorted(r["jobs"].items()):
        rows.append(
            (
                f"job {key} ({job['runs']} runs)",
                f"max {job['max_s']:.2f} s, p99 {job['p99_s']:.2f} s",
                f"< {job['interval_s']:.0f} s interval",
                job["max_s"] < job["interval_s"],
            )
        )
    rows.append(
        (
            "outbox after the day",
            f"{r['outbox_pending']} pending or dead of {r['notifications_enqueued']} enqueued",
            "0 left",
            r["outbox_pending"] == GOALS["pending"],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="3 simulated hours")
    parser.add_argument("--distinct", type=int, default=40, help="real windows warmed up")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default="load_soak.json", help="file in benchmarks/results")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="record what grows each hour (tracemalloc, object counts; several times slower)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each job; statistics in benchmarks/results/<out>.<job>.pstats",
    )
    parser.add_argument(
        "--heap",
        action="store_true",
        help="record where the RSS lives each hour (allocator, arenas, structures; cheap)",
    )
    args = parser.parse_args(argv)
    hours = 3 if args.quick else args.hours
    partial = args.out.removesuffix(".json") + ".partial.json"
    growth = Growth() if args.trace else None
    result = soak(
        args.queues,
        hours,
        min(args.distinct, args.queues),
        args.workers,
        checkpoint=lambda so_far: save(so_far, partial),
        growth=growth,
        profile=args.out.removesuffix(".json") if args.profile else None,
        heap=Heap() if args.heap else None,
    )
    print(f"{args.queues} queues, {hours} simulated hours in {result['day_wall_s']:.0f} s")
    for figure, measured, goal, met in verdicts(result):
        print(f"  {figure:34s} {measured:38s} goal {goal:24s} {'met' if met else 'NOT MET'}")
    print(f"machine: {result['machine']}")
    save(result, args.out)
    return result


if __name__ == "__main__":
    main()
