"""CPU of a poll's read of a large mirror: the whole mirror read back, or its index.

    python -m benchmarks.collectors.mirror_read [--open 200000] [--queues 500] [--polls 12]
        [--store-url URL]

The tickets are those of the Udesk benchmarks (``mirror_build.py``): the 2,367 open at
2 May 2012 12:00 in the Volvo log of the fake Udesk, replicated until ``--open`` are
open over the ``--queues`` busiest teams, kept as Udesk keeps them (queue key
``team\\x1fstatus``), in a :class:`~collectors.hosted.mirror.Mirror` in a temporary
SQLite file (or ``--store-url``). Then ``--polls`` polls, 5 minutes apart from 12:00:
each applies the changes the log's own tickets had in those 5 minutes (new ids beside
the copies: opened ones enter, closed ones leave) and reads every queue's open count per
status and its oldest, median and 90th-percentile age, both ways the code has:

- the whole mirror: :meth:`Mirror.created_times` and :func:`aging` per queue (Udesk's
  read before the index; Fxiaoke's and Help Scout's still);
- the index: :meth:`Mirror.created_index` and :func:`sorted_aging` per queue (Udesk's).

Both ways' figures must be equal (else the benchmark fails). Printed: CPU time
(``time.process_time``; SQLite runs in this process) per poll, median and max, of the
apply and of each read, the index's first load, and the resident memory the index adds
(``psutil``), with the load average. The same figures go to
``benchmarks/results/collectors_mirror_read.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta

import pandas as pd
import psutil

from benchmarks.collectors.mirror_build import AT, replicated
from benchmarks.load import save
from collectors.hosted.mirror import Aging, Change, Mirror, aging, sorted_aging
from monitor.store.engine import migrate, open_store

STEP = timedelta(minutes=5)
KEY = "\x1f"
OPEN = ("open", "solving")


def _changes(state: pd.DataFrame, teams: set[str]) -> list[Change]:
    """The rows of a log state as Udesk's mirror keys them (open: an open status)."""
    return [
        Change(
            str(r.id),
            f"{r.queue}{KEY}{r.status}",
            r.created.to_pydatetime(),
            r.modified.to_pydatetime(),
            r.status in OPEN and str(r.queue) in teams,
        )
        for r in state.itertuples()
    ]


def _figures(found: Aging) -> tuple[datetime | None, dict[str, float] | None]:
    return found.oldest_created, found.quantiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--polls", type=int, default=12)
    parser.add_argument("--store-url", default=None)
    args = parser.parse_args(argv)
    from tests.collectors.stores.udesk import udesk_log

    at = AT["udesk"]
    log = udesk_log()
    copies = replicated(log, at, args.open, args.queues)
    teams = [str(t) for t in copies.events["queue"].value_counts().index][: args.queues]
    groups = {f"{t}{KEY}{s}": t for t in teams for s in OPEN}
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(args.store_url or f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        mirror = Mirror(engine, "bench-mirror-read")
        mirror.reset()
        mirror.apply(_changes(copies.state_at(at), set(teams)), at)
        rss0, cpu0 = process.memory_info().rss, time.process_time()
        mirror.created_index(groups)
        load_cpu, index_mb = time.process_time() - cpu0, (process.memory_info().rss - rss0) / 2**20
        polls: list[dict[str, float]] = []
        now = at
        for _ in range(args.polls):
            state = log.state_at(now + STEP)
            changed = state[state["modified"] > pd.Timestamp(now)]
            now += STEP
            cpu0 = time.process_time()
            mirror.apply(_changes(changed, set(teams)), now)
            cpu1 = time.process_time()
            times = mirror.created_times()
            whole = {
                t: (
                    {s: len(times.get(f"{t}{KEY}{s}", [])) for s in OPEN},
                    _figures(aging((x for s in OPEN for x in times.get(f"{t}{KEY}{s}", [])), now)),
                )
                for t in teams
            }
            cpu2 = time.process_time()
            index = mirror.created_index(groups)
            indexed = {
                t: (
                    {s: index.count(f"{t}{KEY}{s}") for s in OPEN},
                    _figures(sorted_aging(index.created(t), now)),
                )
                for t in teams
            }
            cpu3 = time.process_time()
            if indexed != whole:
                raise SystemExit(f"the index's figures differ from the whole mirror's at {now}")
            polls.append(
                {
                    "changes": len(changed),
                    "apply_ms": (cpu1 - cpu0) * 1000,
                    "whole_ms": (cpu2 - cpu1) * 1000,
                    "index_ms": (cpu3 - cpu2) * 1000,
                    "open": sum(sum(c.values()) for c, _ in indexed.values()),
                }
            )
        mirror.reset()
        engine.dispose()
    load = os.getloadavg()

    def median(name: str) -> float:
        return statistics.median(p[name] for p in polls)

    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"{args.open} open over {len(teams)} queues at {at:%F %H:%M}, {len(polls)} polls")
    print(f"index first load: {load_cpu * 1000:.0f} ms CPU, +{index_mb:.0f} MB resident")
    print(
        f"per poll (median): {median('changes'):.0f} changes applied in "
        f"{median('apply_ms'):.1f} ms; figures of every queue from the whole mirror "
        f"{median('whole_ms'):.0f} ms (max {max(p['whole_ms'] for p in polls):.0f}), from "
        f"the index {median('index_ms'):.1f} ms (max {max(p['index_ms'] for p in polls):.1f});"
        " equal figures"
    )
    save(
        {
            "open": args.open,
            "queues": len(teams),
            "store_url": "sqlite (temporary)" if args.store_url is None else "given",
            "index_load_ms": load_cpu * 1000,
            "index_mb": index_mb,
            "polls": polls,
            "load": load,
        },
        "collectors_mirror_read.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
