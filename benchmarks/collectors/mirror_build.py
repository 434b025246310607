"""The first build of a hosted store's mirror at a large open backlog (Udesk, Fxiaoke).

    python -m benchmarks.collectors.mirror_build --store udesk [--open 200000] [--queues 500]
        [--polls 4] [--store-url URL]

The tickets come from the real logs of the tests (Udesk: the BPI 2013 Volvo incidents;
Fxiaoke: the ServiceNow incidents): the tickets open at the instant are replicated until
``--open`` of them are open. Copy ``k`` of a ticket keeps its status, creation and update
times (so every queue holds real ages), gets the id ``<id>~<k>`` and the queue ``(rank +
k) mod queues`` of the ``--queues`` busiest teams. The fake server of the tests
(``tests/collectors/stores/``) answers from that state in a child process, so the CPU
time and memory measured here are the collector's and its mirror store's only.

The collector is configured as the docs advise at that size: Udesk with ``mirror:`` and
``reconcile_every: 1d`` (open counts from the mirror), Fxiaoke with ``mirror:``; polls
every 5 minutes. The build is read in slices over polls (collectors/hosted/build.py):
``build_pages`` is what the default budget leaves a poll (Udesk: 150 requests an
interval at 30 a minute, half of the account's 60, less the poll's own; Fxiaoke: 600 at
120 a minute), ``--build-pages`` to give another. Polls run every 5 minutes of the fake
clock until the build ends, then one more. Measured per poll: requests, wall time, CPU
time (``time.process_time`` of this process), this process's peak resident memory
(``ru_maxrss``) and its growth over the poll, and the fake's CPU time. The budget itself
is lifted and Fxiaoke's pacing not slept (no real waits); the pages a poll reads are
the budget's.
The mirror is in a SQLite file in a temporary folder unless ``--store-url`` names
another (a PostgreSQL database, say; the source's rows are deleted at the end). The
figures go to ``benchmarks/results/collectors_mirror_build_<store>.json``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd

from benchmarks.load import save
from collectors.base import Window
from collectors.hosted.build import MirrorBuilding
from collectors.hosted.mirror import Mirror
from monitor.clock import FakeClock
from monitor.store.engine import migrate, open_store
from tests.collectors.fakeserver import FakeServer
from tests.collectors.ticketlog import TicketLog

AT = {
    "udesk": datetime(2012, 5, 2, 12, tzinfo=UTC),
    "fxiaoke": datetime(2016, 5, 2, 12, tzinfo=UTC),
}
"""The instant whose open tickets are replicated (a busy weekday of each log)."""
STEP = timedelta(minutes=5)


def replicated(log: TicketLog, at: datetime, wanted: int, queues: int) -> TicketLog:
    """``wanted`` open tickets at ``at``: the log's open ones, copied (see the module)."""
    state = log.state_at(at)
    open_ = state[~state["done"]].reset_index(drop=True)
    teams = [str(t) for t in log.events["queue"].value_counts().index]
    rank = open_["queue"].map({t: i for i, t in enumerate(teams)}).to_numpy()
    copies = []
    for k in range(math.ceil(wanted / len(open_))):
        copies.append(
            open_.assign(
                id=open_["id"].astype(str) + f"~{k}",
                queue=[teams[(r + k) % min(queues, len(teams))] for r in rank],
            )
        )
    tickets = pd.concat(copies, ignore_index=True).iloc[:wanted]
    columns = ["id", "queue", "status", "label", "priority", "done"]
    if "opened" in log.events.columns:  # the log records the opening time on each event
        tickets = tickets.assign(opened=tickets["created"])
        columns.append("opened")
    first = tickets[columns].assign(at=tickets["created"])
    last = tickets[columns].assign(at=tickets["modified"])
    events = pd.concat([first, last[tickets["modified"] > tickets["created"]]])
    return TicketLog(events.reset_index(drop=True))


def _serve(store: str, wanted: int, queues: int, conn: Connection) -> None:
    """The child: the fake over the replicated tickets; commands from ``conn``."""
    clock = FakeClock(AT[store])
    fake: Any
    if store == "udesk":
        from tests.collectors.stores.udesk import FakeUdesk, udesk_log

        fake = FakeUdesk(clock, per_minute=10**9)
        fake.log = replicated(udesk_log(), clock(), wanted, queues)
    else:
        from tests.collectors.stores.fxiaoke import FakeFxiaoke, fxiaoke_log

        fake = FakeFxiaoke(clock)
        fake.log = replicated(fxiaoke_log(), clock(), wanted, queues)
    teams = [str(t) for t in fake.log.events["queue"].value_counts().index][:queues]
    fake.log.state_at(clock())  # the state once, before the clock starts
    with FakeServer(fake) as server:
        conn.send((server.url, teams, time.process_time()))
        while True:
            command, value = conn.recv()
            if command == "advance":
                clock.advance(timedelta(seconds=value))
                conn.send(None)
            elif command == "calls":
                conn.send((len(server.calls), time.process_time()))
            else:
                return


def _collector(
    store: str, url: str, teams: list[str], now: Callable[[], float], pages: int | None
) -> Any:
    if store == "udesk":
        from collectors.udesk import UdeskCollector, UdeskConfig
        from tests.collectors.stores.udesk import CHANGED, EMAIL, OPEN, PASSWORD, filter_id

        settings: dict[str, Any] = {
            "kind": "udesk",
            "name": "bench-udesk",
            "base_url": url,
            "email": EMAIL,
            "password": PASSWORD,
            "interval": "5m",
            "queues": [
                {"name": t, "filters": {s: filter_id(i, s) for s in OPEN}}
                for i, t in enumerate(teams)
            ],
            "mirror": {"changed_filter": CHANGED, "reconcile_every": "1d"},
        }
        # the pages the default budget leaves a poll; then the budget lifted (no waits)
        pages = pages or UdeskConfig.model_validate(settings).build_pages_per_poll()
        settings["mirror"]["build_pages"] = pages
        settings["budget"] = {"requests_per_minute": 10**6, "share": 1.0}
        config = UdeskConfig.model_validate(settings)
        return UdeskCollector(config, clock=now, sleep=lambda s: None)
    from collectors.fxiaoke import FxiaokeCollector, FxiaokeConfig
    from tests.collectors.stores.fxiaoke import Kit

    source = Kit().config(url, {"queues": 0})
    source.update(
        name="bench-fxiaoke",
        app_secret_env=None,
        permanent_code_env=None,
        app_secret=Kit.environment["FXIAOKE_APP_SECRET"],
        permanent_code=Kit.environment["FXIAOKE_PERMANENT_CODE"],
        interval="5m",
        queues=[{"value": t, "name": t} for t in teams],
        mirror={},
    )
    pages = pages or FxiaokeConfig.model_validate(source).build_pages_per_poll()
    source.update(
        mirror={"build_pages": pages}, budget={"requests_per_minute": 10**6, "share": 1.0}
    )
    return FxiaokeCollector(FxiaokeConfig.model_validate(source), clock=now, sleep=lambda s: None)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=sorted(AT), default="udesk")
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--polls-after", type=int, default=2, help="polls after the build")
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--build-pages", type=int, default=None)
    parser.add_argument("--max-polls", type=int, default=200)
    args = parser.parse_args(argv)
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_serve, args=(args.store, args.open, args.queues, theirs)
    )
    child.start()
    if not ours.poll(1800):
        child.kill()
        raise SystemExit("the fake server did not start")
    url, teams, _ = ours.recv()
    polls, pages = _polls(args, ours, url, teams)
    ours.send(("stop", None))
    child.join()
    _report(args, polls, pages, teams)
    return 0


def _polls(
    args: argparse.Namespace, ours: Connection, url: str, teams: list[str]
) -> tuple[list[dict[str, Any]], int]:
    """Polls every 5 minutes until the build has ended and one more poll ran."""
    clock = FakeClock(AT[args.store])
    polls: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(args.store_url or f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        collector = _collector(
            args.store, url, teams, lambda: clock().timestamp(), args.build_pages
        )
        pages = collector.config.mirror.build_pages
        mirror = Mirror(engine, collector.name)
        mirror.reset()
        collector.attach_mirror(mirror)
        after = 0  # polls after the build's end
        while after < args.polls_after and len(polls) < args.max_polls:
            if polls:
                clock.advance(STEP)
                ours.send(("advance", STEP.total_seconds()))
                ours.recv()
            ours.send(("calls", None))
            calls0, fake0 = ours.recv()
            peak0, cpu0, wall0 = _peak_mb(), time.process_time(), time.perf_counter()
            progress, snapshot = None, None
            try:
                snapshot = collector.collect(Window(clock() - STEP, clock()))
            except MirrorBuilding as err:
                progress = err.progress
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            ours.send(("calls", None))
            calls1, fake1 = ours.recv()
            after += snapshot is not None
            polls.append(
                {
                    "requests": calls1 - calls0,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "peak_rss_mb": _peak_mb(),
                    "peak_growth_mb": _peak_mb() - peak0,
                    "fake_cpu_s": fake1 - fake0,
                    "progress": progress,
                    "open": sum(q.open_total for q in snapshot.queues) if snapshot else None,
                    "mirrored": sum(mirror.open_counts().values()),
                    "largest_drift": max(
                        (abs(d) for d in (collector.mirror_drift or {}).values()), default=0
                    ),
                }
            )
        collector.close()
        mirror.reset()
        engine.dispose()
    return polls, pages


def _report(
    args: argparse.Namespace, polls: list[dict[str, Any]], pages: int, teams: list[str]
) -> None:
    building = [p for p in polls if p["progress"] is not None]
    build = polls[: len(building) + 1]  # the polls storing nothing and the one ending it
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"{args.store}: {args.open} open over {len(teams)} queues at {AT[args.store]:%F %H:%M}")
    requests = [p["requests"] for p in build]
    cpu = [p["cpu_s"] for p in build]
    print(
        f"build: {len(build)} polls ({len(building)} storing nothing) at {pages} pages a poll; "
        f"requests {sum(requests)} in all, a poll max {max(requests)} mean "
        f"{sum(requests) / len(build):.0f}; cpu {sum(cpu):.1f} s in all, a poll max "
        f"{max(cpu):.1f} s; fake cpu {sum(p['fake_cpu_s'] for p in build):.1f} s; "
        f"peak RSS {max(p['peak_rss_mb'] for p in build):.0f} MB"
    )
    for n, p in enumerate(polls):
        print(
            f"poll {n}: {p['requests']} requests, wall {p['wall_s']:.1f} s, cpu {p['cpu_s']:.2f} s,"
            f" peak RSS {p['peak_rss_mb']:.0f} MB (+{p['peak_growth_mb']:.0f} MB in the poll),"
            f" fake cpu {p['fake_cpu_s']:.1f} s; progress {p['progress']}, open {p['open']},"
            f" mirrored {p['mirrored']}, largest |drift| {p['largest_drift']}"
        )
    save(
        {
            "store": args.store,
            "open": args.open,
            "queues": len(teams),
            "store_url": "sqlite (temporary)" if args.store_url is None else "given",
            "build_pages": pages,
            "polls": polls,
            "build_polls": len(build),
            "load": load,
        },
        f"collectors_mirror_build_{args.store}.json",
    )


if __name__ == "__main__":
    raise SystemExit(main())
