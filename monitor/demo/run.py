"""``backlog-monitor demo``: replay the real March 2016 surge; watch an alert fire, resolve.

The replay runs in simulated time, step by step (``monitor/stepped.py``): at each
instant a job is due, the ticket store is brought to that instant, then every due job
of the daemon (polls, upkeep, forecasts, rules and delivery to the local webhook sink)
runs to completion before the clock moves on. The story is therefore the same on every
machine; ``speed`` only paces it for people watching, and a slow machine runs late.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config.loader import load_settings
from config.settings import Settings
from monitor.clock import FakeClock
from monitor.demo.sink import WebhookSink, describe
from monitor.demo.ticketstore import ReplayedTicketStore, load_incidents
from monitor.runner import serving
from monitor.scheduler import daemon_jobs
from monitor.stepped import Pacer, SteppedScheduler
from monitor.store.schema import alert_instances, snapshots

ZONE = ZoneInfo("America/Sao_Paulo")
DEFAULT_START = datetime(2016, 3, 20, 0, 0)
REPORT_EVERY = timedelta(hours=6)
REPORTED_RULES = ("BacklogSurge", "BacklogSurgeForecast")
UNPACED_SPEEDUP = 1e9
"""The daemon's source backoff counts wall seconds divided by this (never holds back)."""


def run_demo(
    speed: float | None = 3600.0,
    start: datetime = DEFAULT_START,
    hours: float = 80.0,
    listen: str = "127.0.0.1:9464",
    workdir: Path | None = None,
    out: Callable[[str], None] = print,
    on_step: Callable[[datetime], None] | None = None,
) -> int:
    """Replay ``hours`` of simulated time from ``start`` (local time); returns the exit code.

    Args:
        speed: at most this many simulated seconds per real second; None: as fast as the
            machine can. The outcome is the same either way.
        start: the simulated start, naive local time of the log.
        hours: how much simulated time to replay.
        listen: the address of /metrics while the demo runs.
        workdir: where the ticket store and the history go (default: a new temporary folder).
        out: prints one line (progress and each notification the sink verified).
        on_step: called after the jobs of each simulated instant, with that instant.
    """
    work = workdir or Path(tempfile.mkdtemp(prefix="backlog-monitor-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("tickets.db", "history.db", "history.db-wal", "history.db-shm"):
        (work / name).unlink(missing_ok=True)
    incidents = load_incidents()
    store = ReplayedTicketStore(f"sqlite:///{work}/tickets.db", incidents)
    key = secrets.token_bytes(32)
    sink = WebhookSink(key, lambda payload, msg_id: out(describe(payload, msg_id, ZONE)))
    sink.start()
    try:
        settings = demo_settings(work, listen, sink.url, key)
        clock = FakeClock(start.replace(tzinfo=ZONE))
        # the help desk as it stood at the start: its tickets give the weeks before
        store.advance(start)
        pace = "as fast as the machine can" if speed is None else f"at most {speed:g}x real time"
        out(
            f"Replaying the ServiceNow incident log from {start:%Y-%m-%d %H:%M} (local time), "
            f"{pace}, for {hours:g} simulated hours; data in {work}"
        )
        out(f"Metrics: curl http://{listen}/metrics   (Ctrl-C stops the demo)")
        stop, speedup = threading.Event(), speed or UNPACED_SPEEDUP
        # /metrics rendered on the scrape that first sees a change (not in the
        # background): a scrape after a step shows that step, however fast the replay
        with serving(
            settings, stop, clock=clock, speedup=speedup, render_in_background=False
        ) as daemon:
            daemon.backfill()  # backfill.since of demo.yaml, as `run` does on start
            scheduler = SteppedScheduler(daemon_jobs(daemon), clock)
            replay = Replay(store, scheduler, daemon.engine, out, on_step)
            replay.run(clock.now + timedelta(hours=hours), Pacer(clock.now, speed), stop)
    finally:
        sink.stop()
        store.close()
    out(f"Demo finished: {len(sink.received)} notification(s) delivered and verified.")
    return 0


def demo_settings(
    work: Path,
    listen: str = "127.0.0.1:9464",
    sink_url: str = "http://127.0.0.1:9/",
    key: bytes = bytes(32),
) -> Settings:
    """The packaged ``demo.yaml``, filled in."""
    template = resources.files("monitor.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    return load_settings(
        text=template.format(
            workdir=work,
            listen=listen,
            sink_url=sink_url,
            secret="whsec_" + base64.b64encode(key).decode(),
        )
    )


@dataclass
class Replay:
    """The demo's loop: the ticket store brought to each instant, then the daemon's jobs."""

    store: ReplayedTicketStore
    scheduler: SteppedScheduler
    engine: sa.Engine
    out: Callable[[str], None]
    on_step: Callable[[datetime], None] | None = None

    def run(self, end: datetime, pacer: Pacer, stop: threading.Event) -> None:
        """Step simulated time up to ``end`` (or until ``stop`` is set)."""
        next_report = self.scheduler.next_instant
        while (now := self.scheduler.next_instant) < end:
            if stop.wait(pacer.delay(now)):
                return
            self.store.advance(now.astimezone(ZONE).replace(tzinfo=None))
            self.scheduler.run_due()
            if now >= next_report:  # every simulated six hours
                self.out(_progress(self.engine, now))
                next_report += REPORT_EVERY
            if self.on_step is not None:
                self.on_step(now)


def _progress(engine: sa.Engine, now: datetime) -> str:
    """One line: the latest total backlog and each rule's state."""
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(snapshots.c.open_total)
            .where(snapshots.c.source == "servicenow-total")
            .order_by(snapshots.c.id.desc())
            .limit(1)
        ).scalar()
        rows = conn.execute(sa.select(alert_instances.c.rule, alert_instances.c.state)).all()
    states = {str(rule): str(state) for rule, state in rows}
    shown = "?" if total is None else str(total)
    rules = "; ".join(f"{rule} {states.get(rule, 'inactive')}" for rule in REPORTED_RULES)
    local = now.astimezone(ZONE)
    return f"  {local:%a %Y-%m-%d %H:%M} local: {shown:>5} open tickets in total; {rules}"
