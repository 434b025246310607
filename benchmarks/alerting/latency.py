"""From the evaluation that turns an alert firing to the receiver's 2xx, on loopback.

Run ``python -m benchmarks.alerting.latency`` from the project root (``--modes`` picks
modes, ``--samples`` the firings per mode, ``--out`` the JSON file name).

A :class:`monitor.daemon.Daemon` on a SQLite store, a scripted collector
(``tests.fakes.ScriptedCollector``) and signed webhooks to ``tests.fakes.RecordingReceiver``
(a real HTTP server on 127.0.0.1). 16 queues, each with its own rule
(``open_tickets > 500``, ``for: 0``) and its own receiver (all the same server): the
outbox delivers each receiver in order, *one message per receiver per* ``deliver()``
*run*, so separate lanes are what let 200 samples be taken at the real 5 s delivery
interval without a growing backlog. Each queue flips between 900 and 100 open tickets
every 7 polls, phases staggered.

Latency of one firing = the moment ``Notifier.send`` returned after the receiver's 2xx
minus the ``time.perf_counter()`` at the start of the ``Daemon.evaluate()`` call whose
result enqueued it (matched by idempotency key). Timing hooks are a ``Daemon`` subclass
that only records around ``super().evaluate()`` and a wrapper around the real
``WebhookNotifier``; the production code runs unchanged.

Modes (each until at least ``--samples`` firings were delivered):

* ``direct``: poll, then ``evaluate()`` then ``deliver()`` called back to back (the floor).
* ``scheduled-5s``: the real APScheduler jobs of ``monitor.scheduler.build_scheduler``
  with the default ``delivery.interval`` (5 s) and default jitter (2 s, capped at a
  quarter of each interval); polls and evaluations every 1 s so that samples come
  quickly (the evaluation interval does not enter the latency, which starts at the
  evaluation).
* ``scheduled-1s``: the same with ``delivery.interval: 1s``.
* ``scheduled-kick``: 5 s delivery interval plus the proposed fix: the evaluate job,
  when it enqueued notifications, moves the deliver job's next run to now
  (``scheduler.modify_job("deliver", next_run_time=now)``).
* ``burst20`` / ``burst20-drain``: 20 queues of one rule and one receiver breach in the
  same poll; ``deliver()`` is called until all have their 2xx, counting the runs needed
  (each extra run is one ``delivery.interval`` under the scheduler); ``-drain`` uses the
  proposed draining ``deliver()`` (:class:`DrainingDaemon`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerting import engine as alert_engine
from collectors.base import QueueStats, Snapshot, Window
from config.loader import load_settings
from monitor.daemon import Daemon, build_notifiers
from monitor.scheduler import build_scheduler
from monitor.store.engine import open_store
from tests.fakes import RecordingReceiver, ScriptedCollector

SOURCE = "servicenow"
QUEUES = tuple(f"Group {n}" for n in range(10, 60))
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
RESULTS = Path(__file__).resolve().parents[1] / "results"


def config(url: str, store: str, lanes: int, poll: str, delivery: str, shared: bool = False) -> str:
    """``lanes`` rules, one per queue, each notifying a receiver of its own (all of them
    the same RecordingReceiver URL): the outbox delivers each receiver in order, one
    message per receiver per ``deliver()`` run, so lanes are what let 200 samples be
    taken at the real 5 s delivery interval without a growing backlog."""
    rules = "".join(
        f"""  - name: BacklogHigh{j}
    metric: open_tickets
    threshold: 500
    for: 0s
    severity: critical
    match:
      queue: {QUEUES[j]!r}
    receivers: [hook{j}]
"""
        for j in range(lanes)
    )
    if shared:  # one rule on every queue, one receiver: a burst shares one outbox lane
        rules = (
            "  - name: BacklogHigh\n    metric: open_tickets\n    threshold: 500\n"
            "    for: 0s\n    severity: critical\n"
        )
        lanes = 1
    hooks = "".join(
        f"""  - kind: webhook
    name: hook{j}
    url: {url!r}
    secret: {SECRET!r}
    timeout: 5s
"""
        for j in range(lanes)
    )
    return f"""
store:
  url: {store!r}
evaluation:
  interval: {poll}
delivery:
  interval: {delivery}
  allowed_destinations: ["127.0.0.1"]
sources:
  - kind: sql
    name: {SOURCE}
    url: "sqlite://"
    interval: {poll}
    first_window: 1m
    mapping:
      table: tickets
      queue: queue
      status: status
      priority: priority
      created_at: created_at
      resolved_at: resolved_at
      open_statuses: [open]
rules:
{rules}receivers:
{hooks}"""


class Flipper:
    """The scripted ticket store: queue ``j`` holds 900 open tickets for ``period`` polls,
    then 100 for ``period`` polls, and so on; the queues' phases are staggered."""

    def __init__(self, lanes: int, period: int, stagger: bool = True) -> None:
        self.polls, self.lanes, self.period, self.stagger = 0, lanes, period, stagger

    def high(self, j: int) -> bool:
        offset = j * self.period // max(1, self.lanes) if self.stagger else 0
        return ((self.polls + offset) // self.period) % 2 == 0

    def __call__(self, window: Window) -> Snapshot:
        self.polls += 1
        stats = tuple(
            QueueStats(
                queue=q,
                open_by_status_priority={("open", "3 - Moderate"): 900 if self.high(j) else 100},
                created=0,
                resolved=0,
                oldest_age_s=3600.0,
            )
            for j, q in enumerate(QUEUES[: self.lanes])
        )
        return Snapshot(source=SOURCE, window=window, queues=stats)


class TimedDaemon(Daemon):
    """Records when each evaluation started, per idempotency key it enqueued."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: dict[str, tuple[float, str]] = {}
        self.eval_seconds: list[float] = []
        self.after_evaluate: Callable[[alert_engine.TickResult], None] | None = None

    def evaluate(self) -> alert_engine.TickResult:
        start = time.perf_counter()
        result = super().evaluate()
        self.eval_seconds.append(time.perf_counter() - start)
        for n in result.notifications:
            self.started[n.idempotency_key] = (start, n.event)
        if self.after_evaluate is not None and result.notifications:
            self.after_evaluate(result)
        return result


class TimedNotifier:
    """The real notifier; notes when each send returned (the receiver answered 2xx)."""

    def __init__(self, inner: Any, done: dict[str, float]) -> None:
        self.inner, self.done = inner, done
        self.kind, self.config_model = inner.kind, inner.config_model

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        self.inner.send(key, event, body, now)
        self.done[key] = time.perf_counter()


def make(
    tmp: str,
    label: str,
    receiver: RecordingReceiver,
    delivery: str,
    lanes: int = 16,
    period: int = 7,
    cls: type[TimedDaemon] | None = None,
    burst: bool = False,
):
    settings = load_settings(
        text=config(receiver.url, f"sqlite:///{tmp}/{label}.db", lanes, "1s", delivery, burst)
    )
    done: dict[str, float] = {}
    notifiers = {k: TimedNotifier(v, done) for k, v in build_notifiers(settings).items()}
    collector = ScriptedCollector(SOURCE, Flipper(lanes, period, stagger=not burst))
    daemon = (cls or TimedDaemon)(
        settings,
        collectors={SOURCE: collector},
        notifiers=notifiers,  # type: ignore[arg-type]
        engine=open_store(settings.store.url),
    )
    daemon.migrate()
    return daemon, done


def latencies(daemon: TimedDaemon, done: dict[str, float]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"alert.firing": [], "alert.resolved": []}
    for key, (start, event) in daemon.started.items():
        if key in done:
            out.setdefault(event, []).append(done[key] - start)
    return out


def firings(daemon: TimedDaemon, done: dict[str, float]) -> int:
    return sum(1 for k, (_, e) in list(daemon.started.items()) if e == "alert.firing" and k in done)


def run_direct(tmp: str, receiver: RecordingReceiver, samples: int) -> dict[str, Any]:
    daemon, done = make(tmp, "direct", receiver, "5s")
    while firings(daemon, done) < samples:
        daemon.poll(SOURCE)
        daemon.evaluate()
        daemon.deliver()
    daemon.close()
    return {
        **stats(latencies(daemon, done)),
        "evaluate_seconds_median": statistics.median(daemon.eval_seconds),
    }


class DrainingDaemon(TimedDaemon):
    """The proposed delivery fix: repeat the one-head-per-receiver pass until nothing is due.

    Order per receiver is kept (a receiver whose head failed is not due until its retry
    time, so its later messages wait as today); ``batch`` still bounds one run.
    """

    def deliver(self) -> int:
        total = 0
        while total < self.settings.delivery.batch:
            sent = super().deliver()
            if not sent:
                break
            total += sent
        return total


def run_burst(
    tmp: str,
    receiver: RecordingReceiver,
    samples: int,
    size: int,
    cls: type[TimedDaemon],
    label: str,
    interval: float,
) -> dict[str, Any]:
    """``size`` queues of one rule and one receiver breach in the same poll; deliver()
    is then called until every firing has its 2xx. Reports the direct-call latency and
    the number of deliver() runs the last firing needed: under the scheduler each extra
    run costs one ``delivery.interval``."""
    daemon, done = make(tmp, label, receiver, "5s", lanes=size, period=1, cls=cls, burst=True)
    runs_needed: list[int] = []
    while firings(daemon, done) < samples:
        daemon.poll(SOURCE)
        result = daemon.evaluate()
        keys = {n.idempotency_key for n in result.notifications}
        runs = 0
        while keys - done.keys():
            daemon.deliver()
            runs += 1
            if runs > 10 * size:
                raise RuntimeError("burst not delivered")
        if result.notifications and result.notifications[0].event == "alert.firing":
            runs_needed.append(runs)
    daemon.close()
    out = stats(latencies(daemon, done))
    out["burst_size"] = size
    out["deliver_runs_for_last_firing_median"] = statistics.median(runs_needed)
    out["scheduled_estimate_last_firing_s"] = {
        "min": (statistics.median(runs_needed) - 1) * interval,
        "max": statistics.median(runs_needed) * interval,
        "note": f"(runs-1)..runs x delivery.interval ({interval:g}s), plus jitter",
    }
    out["evaluate_seconds_median"] = statistics.median(daemon.eval_seconds)
    return out


def run_scheduled(
    tmp: str, receiver: RecordingReceiver, samples: int, delivery: str, kick: bool, label: str
) -> dict[str, Any]:
    daemon, done = make(tmp, label, receiver, delivery)
    scheduler = build_scheduler(daemon)
    if kick:

        def wake_delivery(_result: alert_engine.TickResult) -> None:
            scheduler.modify_job("deliver", next_run_time=datetime.now(UTC))

        daemon.after_evaluate = wake_delivery
    scheduler.start()
    began = time.monotonic()
    try:
        while firings(daemon, done) < samples and time.monotonic() - began < 900:
            time.sleep(0.5)
        time.sleep(float(delivery.rstrip("s")) + 1)  # let the last batch arrive
    finally:
        scheduler.shutdown(wait=True)
        daemon.close()
    out = stats(latencies(daemon, done))
    out["wall_seconds"] = time.monotonic() - began
    out["missed_runs"] = dict(daemon.stats.missed_runs)
    out["evaluate_seconds_median"] = statistics.median(daemon.eval_seconds)
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def stats(lat: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for event, xs in lat.items():
        if not xs:
            continue
        name = event.split(".")[1]
        out[name] = {
            "n": len(xs),
            "p50_ms": pct(xs, 50) * 1e3,
            "p95_ms": pct(xs, 95) * 1e3,
            "p99_ms": pct(xs, 99) * 1e3,
            "max_ms": max(xs) * 1e3,
            "mean_ms": statistics.fmean(xs) * 1e3,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="firings per mode")
    parser.add_argument(
        "--modes",
        default="direct,burst20,burst20-drain,scheduled-5s,scheduled-kick,scheduled-1s",
    )
    parser.add_argument("--out", default="alerting_latency.json", help="file in benchmarks/results")
    args = parser.parse_args()
    receiver = RecordingReceiver()
    report: dict[str, Any] = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "queues": len(QUEUES),
        "rules": 1,
        "modes": {},
    }
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for mode in modes:
                print(f"running {mode} ...", flush=True)
                if mode == "direct":
                    res = run_direct(tmp, receiver, args.samples)
                elif mode == "scheduled-5s":
                    res = run_scheduled(tmp, receiver, args.samples, "5s", False, "s5")
                elif mode == "scheduled-1s":
                    res = run_scheduled(tmp, receiver, args.samples, "1s", False, "s1")
                elif mode == "scheduled-kick":
                    res = run_scheduled(tmp, receiver, args.samples, "5s", True, "kick")
                elif mode == "burst20":
                    res = run_burst(tmp, receiver, args.samples, 20, TimedDaemon, "b", 5.0)
                elif mode == "burst20-drain":
                    res = run_burst(tmp, receiver, args.samples, 20, DrainingDaemon, "bd", 5.0)
                else:
                    raise SystemExit(f"unknown mode {mode}")
                report["modes"][mode] = res
                print_row(mode, res)
        finally:
            receiver.close()
    report["receiver_2xx_total"] = len(receiver.received)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("\nevaluation start -> receiver 2xx, firing notifications (ms):")
    print(f"{'mode':18s} {'n':>5s} {'p50':>8s} {'p95':>8s} {'p99':>8s} {'max':>8s}  eval med")
    for mode, res in report["modes"].items():
        print_row(mode, res)
    print(f"\nwrote {out}")


def print_row(mode: str, res: dict[str, Any]) -> None:
    f = res.get("firing")
    if not f:
        print(f"{mode:18s} no samples")
        return
    print(
        f"{mode:18s} {f['n']:5d} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['p99_ms']:8.1f} "
        f"{f['max_ms']:8.1f}  {res['evaluate_seconds_median'] * 1e3:.1f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
