"""Help Scout with ``mirror:``: requests a minute with aging, and the first build's cost.

    python -m benchmarks.collectors.helpscout_mirror [--steady-polls 10]

The reference's two sizes (seed-ticket-stores.md, "cheapest correct polling"): (a) 20
mailboxes, 5,000 open, 100 changes a minute, every mailbox's folders every poll; (b)
500 mailboxes, 200,000 open, 300 changes a minute, ``folder_rotation: 10m``. Polls
every minute with aging from the mirror, against a local fake server
(``tests/collectors/fakeserver.py``) that answers folders with counts, the
``modifiedSince`` listing with the minute's changes (25 a page) and the build's
``status=open`` listing from ``open`` conversations, one created a second, paged by
the ``createdAt`` bound the collector asks (so a build reads what a real one would).

First the build, through the collector poll after poll (each poll a simulated minute)
until the mirror is built: its pages a poll are what the budget leaves (half of Help
Scout's 200 a minute, less the poll's own requests), so the figure is how many polls,
that is minutes, the build takes, and its requests; then ``--steady-polls`` polls of
the built mirror: requests a poll (folders, listing; no aging request) beside the
reference's 21-24 / 54-62 a minute and the 100 allowed. The budget itself is lifted for
the measurement (its waits would be real seconds), the pages a poll set to what it
gives. The mirror is a SQLite file in a temporary folder. Wall and CPU times include
the fake server (same process), loopback HTTP and SQLite.

Wall and CPU per steady poll are medians (CPU: this process's, fake server included);
after them, the CPU of one read of the whole built mirror as a poll read it before the
index (every creation time, every mailbox's ages from them, and the open counts per
mailbox); a poll reads the index now (``mirror_read --store helpscout`` compares the
two).
Results, with the load average, go to ``benchmarks/results/collectors_helpscout_mirror.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.collectors.hosted_poll_desks import PAGE, PLAN, REFERENCE, SHARE, CountsOnly
from benchmarks.load import save
from collectors.base import Window
from collectors.helpscout import HelpScoutCollector, HelpScoutConfig
from collectors.hosted.mirror import Mirror, aging
from monitor.store.engine import migrate, open_store
from tests.collectors.fakeserver import Call, FakeServer, Reply

SIZES = {"a": (20, 5_000, 100, None, 1), "b": (500, 200_000, 300, "10m", 1)}
"""size -> (mailboxes, open conversations, changes a minute, rotation, interval minutes)."""

BASE = datetime(2025, 1, 1, tzinfo=UTC)
"""The first open conversation's creation; the k-th is ``k`` seconds later."""

BOUND = re.compile(r"^\(createdAt:\[(\S+) TO \*\]\)$")
TIME = "%Y-%m-%dT%H:%M:%SZ"


class OpenConversations(CountsOnly):
    """:class:`CountsOnly`, and ``open`` conversations for the build's listing: the
    ``k``-th created ``BASE + k`` seconds, in mailbox ``1 + k % mailboxes``."""

    def __init__(self, mailboxes: int, open_: int, changes: int) -> None:
        super().__init__(mailboxes, open_, changes)
        self.open = open_

    def __call__(self, call: Call) -> Reply:
        query = BOUND.match(call.arg("query") or "")
        if call.arg("status") != "open" or query is None:
            return super().__call__(call)
        bound = datetime.strptime(query.group(1), TIME).replace(tzinfo=UTC)
        first = max(0, math.ceil((bound - BASE).total_seconds()))
        number = int(call.arg("page", "1") or 1)
        start = first + (number - 1) * PAGE
        items = [
            {
                "id": 10_000_000 + k,
                "mailboxId": 1 + k % self.mailboxes,
                "status": "active",
                "createdAt": (BASE + timedelta(seconds=k)).strftime(TIME),
            }
            for k in range(start, min(self.open, start + PAGE))
        ]
        body: dict[str, Any] = {"_embedded": {"conversations": items}, "_links": {}}
        if start + PAGE < self.open:
            body["_links"]["next"] = {"href": f"/v2/conversations?page={number + 1}"}
        return Reply(200, body)


def kind(call: Call) -> str:
    if "/folders" in call.path:
        return "folders"
    if call.arg("modifiedSince"):
        return "listing"
    if call.arg("query"):
        return "build"
    return "token" if "oauth2" in call.path else "other"


def source(size: str, **extra: Any) -> dict[str, Any]:
    boxes, _open, changes, rotation, minutes = SIZES[size]
    return {
        "kind": "helpscout",
        "name": f"bench-helpscout-mirror-{size}",
        "client_id": "bench",
        "client_secret": "bench",
        "mailboxes": [{"id": 1 + i, "name": f"m{i}"} for i in range(boxes)],
        "interval": f"{minutes}m",
        "folder_rotation": rotation,
        "expected_pages": changes * minutes // PAGE + 1,
        "max_wait": "60s",
        **extra,
    }


def run(size: str, steady: int) -> dict[str, Any]:
    """The build poll after poll, then ``steady`` polls of the built mirror."""
    boxes, open_, changes, rotation, minutes = SIZES[size]
    budgeted = HelpScoutConfig.model_validate(
        source(size, mirror={}, budget={"requests_per_minute": PLAN, "share": SHARE})
    )
    pages = budgeted.build_pages_per_poll()
    config = HelpScoutConfig.model_validate(
        source(size, mirror={"build_pages": pages}, budget={"requests_per_minute": 100_000})
    )
    interval = timedelta(minutes=minutes)
    end = datetime(2026, 1, 1, 12, tzinfo=UTC)
    build: list[Counter[str]] = []
    polls: list[Counter[str]] = []
    walls: list[float] = []
    cpus: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        mirror = Mirror(engine, config.name)
        app = OpenConversations(boxes, open_, changes * minutes)
        with FakeServer(app) as server:
            collector = HelpScoutCollector(config.model_copy(update={"base_url": server.url}))
            collector.attach_mirror(mirror)
            began, cpu = time.perf_counter(), time.process_time()
            try:
                while not build or mirror.build_from() is not None:
                    before = len(server.calls)
                    collector.collect(Window(end - interval, end))
                    build.append(Counter(kind(c) for c in server.calls[before:]))
                    end += interval
                build_wall, build_cpu = time.perf_counter() - began, time.process_time() - cpu
                held = sum(mirror.open_counts().values())
                for _ in range(steady):
                    before = len(server.calls)
                    t0, c0 = time.perf_counter(), time.process_time()
                    collector.collect(Window(end - interval, end))
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                    polls.append(Counter(kind(c) for c in server.calls[before:]))
                    end += interval
                c0 = time.process_time()
                times = mirror.created_times()
                c1 = time.process_time()
                for created in times.values():
                    aging(created, end)
                c2 = time.process_time()
                mirror.open_counts()
                read_cpu = (c1 - c0, c2 - c1, time.process_time() - c2)
            finally:
                collector.close()
                engine.dispose()
    requests = [sum(n for k, n in p.items() if k != "token") for p in polls]
    low, high = REFERENCE[size]
    return {
        "size": size,
        "mailboxes": boxes,
        "open": open_,
        "changes_per_minute": changes,
        "interval": f"{minutes}m",
        "rotation": rotation,
        "build_pages_per_poll": pages,
        "build_polls": len(build),
        "build_minutes": len(build) * minutes,
        "build_pages": sum(p["build"] for p in build),
        "build_requests": sum(sum(n for k, n in p.items() if k != "token") for p in build),
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        "mirrored": held,
        "steady_requests_max": max(requests),
        "steady_per_minute": max(requests) / minutes,
        "steady_kinds": dict(polls[-1]),
        "reference_per_minute": [low, high],
        "allowed_per_minute": PLAN * SHARE,
        "poll_cost": config.poll_cost().requests,
        "steady_wall_ms": statistics.median(walls) * 1000,
        "steady_cpu_ms": statistics.median(cpus) * 1000,
        "mirror_read_cpu_ms": {
            "created_times": read_cpu[0] * 1000,
            "aging": read_cpu[1] * 1000,
            "open_counts": read_cpu[2] * 1000,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady-polls", type=int, default=10)
    parser.add_argument("--sizes", default="ab")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.1f} on {os.cpu_count()} cores")
    print(
        "size mailboxes open    rotation per-min(max) reference allowed wall-ms cpu-ms | build: "
        "pages/poll polls pages requests wall-s cpu-s mirrored"
    )
    results = []
    for size in args.sizes:
        r = run(size, args.steady_polls)
        results.append(r)
        low, high = r["reference_per_minute"]
        print(
            f"{size:4} {r['mailboxes']:9} {r['open']:<7} {r['rotation'] or '-':8} "
            f"{r['steady_per_minute']:12.0f} {low:4}-{high:<4} {r['allowed_per_minute']:7.0f} "
            f"{r['steady_wall_ms']:7.0f} {r['steady_cpu_ms']:6.0f} | "
            f"{r['build_pages_per_poll']:17} {r['build_polls']:5} "
            f"{r['build_pages']:5} {r['build_requests']:8} {r['build_wall_s']:6.1f} "
            f"{r['build_cpu_s']:5.1f} {r['mirrored']}"
        )
        print(f"     mirror read once, CPU ms: {r['mirror_read_cpu_ms']}")
    save(
        {
            "steady_polls": args.steady_polls,
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "cpus": os.cpu_count(),
            "helpscout_mirror": results,
        },
        "collectors_helpscout_mirror.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
