"""``backlog-monitor demo``: replay the real March 2016 surge; watch an alert fire, resolve."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config.loader import load_settings
from monitor.clock import ReplayClock
from monitor.daemon import Daemon
from monitor.demo.backfill import backfill_rollups
from monitor.demo.sink import WebhookSink, describe
from monitor.demo.ticketstore import ReplayedTicketStore, load_incidents
from monitor.runner import run
from monitor.store.engine import migrate, open_store
from monitor.store.schema import alert_instances, snapshots

ZONE = ZoneInfo("America/Sao_Paulo")
DEFAULT_START = datetime(2016, 3, 20, 0, 0)


def run_demo(
    speed: float = 3600.0,
    start: datetime = DEFAULT_START,
    hours: float = 80.0,
    listen: str = "127.0.0.1:9464",
    workdir: Path | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run the demo to ``start + hours`` of simulated time; returns the exit code."""
    work = workdir or Path(tempfile.mkdtemp(prefix="backlog-monitor-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("tickets.db", "history.db", "history.db-wal", "history.db-shm"):
        (work / name).unlink(missing_ok=True)
    incidents = load_incidents()
    store = ReplayedTicketStore(f"sqlite:///{work}/tickets.db", incidents)
    store.advance(start)
    key = secrets.token_bytes(32)
    sink = WebhookSink(key, lambda payload, msg_id: out(describe(payload, msg_id, ZONE)))
    sink.start()
    template = resources.files("monitor.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    settings = load_settings(
        text=template.format(
            workdir=work,
            listen=listen,
            sink_url=sink.url,
            speed=int(speed),
            secret="whsec_" + base64.b64encode(key).decode(),
        )
    )
    clock = ReplayClock(start.replace(tzinfo=ZONE), speed)
    history_store = open_store(settings.store.url)
    migrate(history_store)
    backfill_rollups(history_store, incidents, clock.start, ZONE, 21, "servicenow-total", "all")
    history_store.dispose()
    end = clock.start + timedelta(hours=hours)
    stop = threading.Event()
    out(
        f"Replaying the ServiceNow incident log from {start:%Y-%m-%d %H:%M} (local time), "
        f"{speed:g}x real time, for {hours:g} simulated hours; data in {work}"
    )
    out(f"Metrics: curl http://{listen}/metrics   (Ctrl-C stops the demo)")
    threads = [
        threading.Thread(target=_replay, args=(store, clock, stop), daemon=True),
        threading.Thread(target=_stop_at, args=(clock, end, stop), daemon=True),
    ]

    def on_ready(daemon: Daemon) -> None:
        threads.append(
            threading.Thread(
                target=_progress, args=(daemon.engine, clock, end, stop, out), daemon=True
            )
        )
        for thread in threads:
            thread.start()

    try:
        code = run(settings, clock=clock, speedup=speed, stop=stop, on_ready=on_ready)
    finally:
        stop.set()
        sink.stop()
        store.close()
    out(f"Demo finished: {len(sink.received)} notification(s) delivered and verified.")
    return code


def _replay(store: ReplayedTicketStore, clock: ReplayClock, stop: threading.Event) -> None:
    while not stop.wait(0.02):
        store.advance(clock().astimezone(ZONE).replace(tzinfo=None))


def _stop_at(clock: ReplayClock, end: datetime, stop: threading.Event) -> None:
    """End the demo at ``end`` of simulated time (independent of everything else)."""
    while not stop.wait(0.1):
        if clock() >= end:
            stop.set()


def _progress(
    engine: sa.Engine,
    clock: ReplayClock,
    end: datetime,
    stop: threading.Event,
    out: Callable[[str], None],
) -> None:
    """Print the total backlog and the alert's state every simulated six hours."""
    next_report = clock.start
    while not stop.wait(0.1):
        now = clock()
        if now >= end:
            return
        if now < next_report:
            continue
        next_report += timedelta(hours=6)
        try:
            report = _report(engine)
        except sa.exc.SQLAlchemyError:  # a busy store delays this line, never the demo
            continue
        total, states = report
        shown = "?" if total is None else str(total)
        state = "; ".join(
            f"{rule} {states.get(rule, 'inactive')}"
            for rule in ("BacklogSurge", "BacklogSurgeForecast")
        )
        out(
            f"  {now.astimezone(ZONE):%a %Y-%m-%d %H:%M} local: {shown:>5} open tickets in total;"
            f" {state}"
        )


def _report(engine: sa.Engine) -> tuple[int | None, dict[str, str]]:
    """The latest total backlog and each rule's state."""
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(snapshots.c.open_total)
            .where(snapshots.c.source == "servicenow-total")
            .order_by(snapshots.c.id.desc())
            .limit(1)
        ).scalar()
        rows = conn.execute(sa.select(alert_instances.c.rule, alert_instances.c.state)).all()
    return total, {str(rule): str(state) for rule, state in rows}


def default_workdir() -> Path:
    """Where the demo keeps its databases unless told otherwise."""
    return Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "backlog-monitor-demo"
