"""Running the daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType

from config.settings import Settings
from monitor.clock import Clock, utcnow
from monitor.daemon import Daemon, max_gap
from monitor.http import HttpServer, build_app, daemon_registry
from monitor.scheduler import build_scheduler, poll_early

log = logging.getLogger(__name__)


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Migrate, serve HTTP, schedule the jobs, and wait for a stop signal.

    Returns the process exit code. In-flight jobs finish before it returns, and every
    state change is already committed, so nothing is lost on a graceful stop.
    """
    stop = stop or threading.Event()
    with serving(settings, stop) as daemon:
        daemon.backfill()  # before the first forecast (a no-op without backfill.since)
        scheduler = build_scheduler(daemon)
        daemon.early_poll = partial(poll_early, scheduler)
        scheduler.start()
        try:
            stop.wait()
        finally:
            log.info("stopping: waiting for running jobs to finish")
            scheduler.shutdown(wait=True)
    log.info("stopped")
    return 0


@contextmanager
def serving(
    settings: Settings,
    stop: threading.Event,
    clock: Clock = utcnow,
    speedup: float = 1.0,
    render_in_background: bool = True,
) -> Iterator[Daemon]:
    """A migrated daemon whose HTTP server runs while the block does.

    From the start, SIGTERM and SIGINT set ``stop`` (when called from the main thread;
    the previous handlers are restored at the end). The block runs the jobs: on a scheduler
    (:func:`run`) or step by step (the demo).

    ``render_in_background``: ``/metrics`` is rendered by a background thread after each
    change, so no scrape waits for a render but one may show the page of a moment ago
    (:mod:`monitor.exposition`); False renders on the scrape that first sees a change,
    so every scrape shows every write made before it (the demo's step-by-step replay).
    """
    with _signals_set(stop):
        daemon = Daemon(settings, clock=clock, speedup=speedup, max_gap=max_gap(settings))
        try:
            revision = daemon.migrate()
            log.info("history store at revision %s", revision)
            daemon.hold_lease()  # know the role before the first job runs
            app = build_app(daemon, daemon_registry(daemon))
            server = HttpServer(app, settings.http.host, settings.http.port)
            server.start()
            # /metrics rendered after each change by a background thread, so that no
            # scrape waits for a render (monitor.exposition)
            if render_in_background:
                app.state.exposition.start()
            log.info("serving http://%s/metrics", settings.http.listen)
            try:
                yield daemon
            finally:
                server.stop()
                app.state.exposition.stop()
        finally:
            daemon.close()


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
