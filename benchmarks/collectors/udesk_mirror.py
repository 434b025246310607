"""Requests per poll of the Udesk collector with ``mirror:``, against the real-log fake.

    python -m benchmarks.collectors.udesk_mirror [--queues 20] [--hours 6]
        [--start 06:00] [--reconcile-every 1d] [--log FILE]

The fake Udesk of the tests (``tests/collectors/stores/udesk.py``: the BPI 2013 Volvo
incident log, the busiest teams as user groups, two filters each, and the "updated in
the last day" filter) is polled every 5 minutes from 2 May 2012 ``--start`` UTC, with the
mirror in a temporary SQLite store. The budget is lifted so that the poll's own cost is
measured (in the daemon the shared budget paces it). With ``--reconcile-every`` (500
queues: ``1d``, the docs' advice) the counts come from the mirror and a few queues'
filters are counted a poll.

Printed: the first poll's requests (the rebuild: every filter listed 100 a page, plus
the counts), then over the later polls the requests per poll (counts + feed pages:
median, mean and max; the mean of the counts and of the feed's pages, and the feed's
changes), the largest drift seen (0 when the feed missed nothing), and CPU time
per poll (``time.process_time``, which includes the fake server's thread: an upper
bound of the client's own), with the load average. The same figures go to
``benchmarks/results/collectors_udesk_mirror.json`` (read by ``./dev.sh bench``); with
``--log``, each poll's instant, counts, feed pages, listing pages, the feed's tickets
and CPU time as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from benchmarks.load import save
from collectors.base import Window
from collectors.hosted.mirror import Mirror
from collectors.udesk import UdeskCollector, UdeskConfig
from monitor.clock import FakeClock
from monitor.store.engine import migrate, open_store
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.udesk import CHANGED, PASSWORD, FakeUdesk, Kit

START = datetime(2012, 5, 2, 6, tzinfo=UTC)
STEP = timedelta(minutes=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--start", default="06:00", help="UTC time of day of the first poll")
    parser.add_argument("--reconcile-every", default=None, help="e.g. 1d (default: none)")
    parser.add_argument("--log", default=None, help="a JSON line per poll to this file")
    args = parser.parse_args(argv)
    hour, minute = (int(x) for x in args.start.split(":"))
    start = START.replace(hour=hour, minute=minute)
    clock = FakeClock(start)
    fake = FakeUdesk(clock, per_minute=10**9)
    with tempfile.TemporaryDirectory() as folder, FakeServer(fake) as server:
        engine = open_store(f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        source = Kit().config(server.url, {"queues": args.queues})
        source.update(
            password=PASSWORD,
            password_env=None,
            interval="5m",
            mirror={"changed_filter": CHANGED, "reconcile_every": args.reconcile_every},
            budget={"requests_per_minute": 10**6, "share": 1.0},
        )
        config = UdeskConfig.model_validate(source)
        collector = UdeskCollector(config, clock=lambda: clock().timestamp())
        collector.attach_mirror(Mirror(engine, config.name))
        requests: list[int] = []
        kinds: list[dict[str, int]] = []
        cpu: list[float] = []
        worst = 0
        polls = int(args.hours * 3600 / STEP.total_seconds())
        for _ in range(polls):
            clock.advance(STEP)
            before, started = len(server.calls), time.process_time()
            collector.collect(Window(clock() - STEP, clock()))
            cpu.append(time.process_time() - started)
            sent = [c for c in server.calls[before:] if c.path.endswith("tickets_in_filter")]
            requests.append(len(sent))
            kinds.append(
                {
                    "counts": sum(1 for c in sent if c.arg("per_page") == "1"),
                    "feed": sum(1 for c in sent if c.arg("filter_id") == str(CHANGED)),
                    "listing": sum(
                        1
                        for c in sent
                        if c.arg("per_page") != "1" and c.arg("filter_id") != str(CHANGED)
                    ),
                }
            )
            worst = max([worst, *(abs(d) for d in (collector.mirror_drift or {}).values())])
        collector.close()
        engine.dispose()
    later = requests[1:]
    counts = statistics.mean(k["counts"] for k in kinds[1:])
    feed = [k["feed"] for k in kinds[1:]]
    if args.log:
        with open(args.log, "w") as out:
            for n, (k, c) in enumerate(zip(kinds, cpu, strict=True)):
                at = start + (n + 1) * STEP
                out.write(json.dumps({"at": at.isoformat(), **k, "cpu_ms": c * 1000}) + "\n")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"queues {args.queues} (2 filters each), {polls} polls every 5 min from {start:%F %H:%M}")
    print(f"reconcile_every {args.reconcile_every}")
    print(f"poll_cost() estimate per poll: {config.poll_cost().requests}")
    print(f"first poll (rebuild + counts): {requests[0]} requests, cpu {cpu[0] * 1000:.0f} ms")
    print(
        f"later polls: requests median {statistics.median(later):.0f}, mean "
        f"{statistics.mean(later):.2f}, max {max(later)} (counts mean {counts:.2f}, feed pages"
        f" mean {statistics.mean(feed):.2f} max {max(feed)}); cpu median "
        f"{statistics.median(cpu[1:]) * 1000:.0f} ms"
    )
    print(f"largest |drift| seen: {worst}")
    save(
        {
            "queues": args.queues,
            "filters": 2 * args.queues,
            "polls": polls,
            "interval_s": STEP.total_seconds(),
            "estimate": config.poll_cost().requests,
            "first_requests": requests[0],
            "first_cpu_ms": cpu[0] * 1000,
            "reconcile_every": args.reconcile_every,
            "later_median": statistics.median(later),
            "later_mean": statistics.mean(later),
            "counts_mean": counts,
            "feed_mean": statistics.mean(feed),
            "feed_max": max(feed),
            "later_max": max(later),
            "later_cpu_ms_median": statistics.median(cpu[1:]) * 1000,
            "worst_drift": worst,
            "load": os.getloadavg(),
        },
        "collectors_udesk_mirror.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
