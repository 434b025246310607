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
every 5 minutes. Measured for the first poll (the build) and the ``--polls`` less one
after it (5 minutes apart; the poll's CPU beyond its requests is the mirror's read and
write): requests,
wall time, CPU time (``time.process_time`` of this process), the growth of this
process's peak resident memory (``ru_maxrss``) over the poll, and the fake's CPU time.
The budget is lifted and Fxiaoke's pacing not slept, so that the build's own cost is
measured; the time the build takes within the budget follows from its requests and is
printed beside (Udesk: 30 a minute, half of the account's 60; Fxiaoke: one every 0.5 s).
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


def _collector(store: str, url: str, teams: list[str], now: Callable[[], float]) -> Any:
    if store == "udesk":
        from collectors.udesk import UdeskCollector, UdeskConfig
        from tests.collectors.stores.udesk import CHANGED, EMAIL, OPEN, PASSWORD, filter_id

        config = UdeskConfig.model_validate(
            {
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
                "budget": {"requests_per_minute": 10**6, "share": 1.0},
            }
        )
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
        budget={"requests_per_minute": 10**6, "share": 1.0},
    )
    return FxiaokeCollector(FxiaokeConfig.model_validate(source), clock=now, sleep=lambda s: None)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=sorted(AT), default="udesk")
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--polls", type=int, default=4, help="the build and the polls after")
    parser.add_argument("--store-url", default=None)
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
    clock = FakeClock(AT[args.store])
    polls: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(args.store_url or f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        collector = _collector(args.store, url, teams, lambda: clock().timestamp())
        mirror = Mirror(engine, collector.name)
        mirror.reset()
        collector.attach_mirror(mirror)
        for n in range(max(2, args.polls)):
            if n:
                clock.advance(STEP)
                ours.send(("advance", STEP.total_seconds()))
                ours.recv()
            ours.send(("calls", None))
            calls0, fake0 = ours.recv()
            peak0, cpu0, wall0 = _peak_mb(), time.process_time(), time.perf_counter()
            snapshot = collector.collect(Window(clock() - STEP, clock()))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            ours.send(("calls", None))
            calls1, fake1 = ours.recv()
            polls.append(
                {
                    "requests": calls1 - calls0,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "peak_rss_mb": _peak_mb(),
                    "peak_growth_mb": _peak_mb() - peak0,
                    "fake_cpu_s": fake1 - fake0,
                    "open": sum(q.open_total for q in snapshot.queues),
                    "mirrored": sum(mirror.open_counts().values()),
                    "largest_drift": max(
                        (abs(d) for d in (collector.mirror_drift or {}).values()), default=0
                    ),
                }
            )
        collector.close()
        mirror.reset()
        engine.dispose()
    ours.send(("stop", None))
    child.join()
    budget = {"udesk": 30.0, "fxiaoke": 120.0}[args.store]
    paced = polls[0]["requests"] / budget  # minutes within the budget (or the pace)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"{args.store}: {args.open} open over {len(teams)} queues at {AT[args.store]:%F %H:%M}")
    names = ["build (first poll)"] + [f"poll {n + 1}" for n in range(1, len(polls))]
    for name, p in zip(names, polls, strict=True):
        print(
            f"{name}: {p['requests']} requests, wall {p['wall_s']:.1f} s, cpu {p['cpu_s']:.1f} s,"
            f" peak RSS {p['peak_rss_mb']:.0f} MB (+{p['peak_growth_mb']:.0f} MB in the poll),"
            f" fake cpu {p['fake_cpu_s']:.1f} s; open {p['open']}, mirrored {p['mirrored']},"
            f" largest |drift| {p['largest_drift']}"
        )
    print(f"the build within the budget ({budget:g} requests a minute): {paced:.0f} min")
    save(
        {
            "store": args.store,
            "open": args.open,
            "queues": len(teams),
            "store_url": "sqlite (temporary)" if args.store_url is None else "given",
            "polls": polls,
            "build_minutes_within_budget": paced,
            "load": load,
        },
        f"collectors_mirror_build_{args.store}.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
