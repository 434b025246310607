"""Running the daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from prometheus_client import CollectorRegistry

from config.settings import Settings
from monitor.clock import Clock, utcnow
from monitor.daemon import Daemon
from monitor.http import HttpServer, build_app
from monitor.metrics import BacklogCollector
from monitor.scheduler import build_scheduler

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    clock: Clock = utcnow,
    speedup: float = 1.0,
    stop: threading.Event | None = None,
    on_ready: Callable[[Daemon], None] | None = None,
) -> int:
    """Migrate, serve HTTP, schedule the jobs, and wait for a stop signal.

    Returns the process exit code. In-flight jobs finish before it returns, and every
    state change is already committed, so nothing is lost on a graceful stop.
    """
    stop = stop or threading.Event()
    daemon = Daemon(settings, clock=clock, speedup=speedup)
    revision = daemon.migrate()
    log.info("history store at revision %s", revision)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        BacklogCollector(
            daemon.engine, daemon.stats, lambda: daemon.source_names, clock, daemon.rules
        )
    )
    server = HttpServer(build_app(daemon, registry), settings.http.host, settings.http.port)
    server.start()
    log.info("serving http://%s/metrics", settings.http.listen)
    scheduler = build_scheduler(daemon, speedup)
    _install_signal_handlers(stop)
    scheduler.start()
    if on_ready is not None:
        on_ready(daemon)
    try:
        stop.wait()
    finally:
        log.info("stopping: waiting for running jobs to finish")
        scheduler.shutdown(wait=True)
        server.stop()
        daemon.close()
    log.info("stopped")
    return 0


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
