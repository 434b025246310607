"""CPU of a poll's read of a large mirror: the whole mirror read back, or its index.

    python -m benchmarks.collectors.mirror_read [--store udesk|fxiaoke|helpscout]
        [--open 200000] [--queues 500] [--polls 12] [--store-url URL]

The tickets are those of the mirror benchmarks (``mirror_build.py``): the tickets open at
the instant of ``--store``'s log (Udesk: the 2,367 open at 2 May 2012 12:00 in the Volvo
log of the fake Udesk; Fxiaoke and Help Scout: the 1,266 open at 2 May 2016 12:00 in the
ServiceNow log of theirs), replicated until ``--open`` are open over the ``--queues``
busiest teams (at most as many as the log has), kept as the store's collector keeps them
(queue key ``team\x1fstatus`` for Udesk and Fxiaoke, the mailbox for Help Scout), in a
:class:`~collectors.hosted.mirror.Mirror` in a temporary SQLite file (or
``--store-url``). Then ``--polls`` polls, 5 minutes apart from that instant: each
applies the changes the log's own tickets had in those 5 minutes (new ids beside the
copies: opened ones enter, closed ones leave) and reads what the collector reads of the
mirror each poll, every queue's open count per status (Help Scout: per mailbox), its
7/14/30-day counts, oldest, median and 90th-percentile age and its open total for the
reconciliation, both ways the code has had:

- the whole mirror (the read before): :meth:`Mirror.created_times` and :func:`aging` per
  queue, the open totals summed from it (Udesk, Fxiaoke) or from
  :meth:`Mirror.open_counts` (Help Scout);
- the index (the read now): :meth:`Mirror.created_index` and :func:`sorted_aging` per
  queue (Udesk, Fxiaoke, as their collectors read it), or Help Scout's
  :class:`~collectors.helpscoutmirror.Keeper` itself (``aging``, ``index``).

Both ways' figures must be equal (else the benchmark fails). Printed: CPU time
(``time.process_time``; SQLite runs in this process) per poll, median and max, of the
apply and of each read, the index's first load, and the resident memory the index adds
(``psutil``), with the load average. The same figures go to
``benchmarks/results/collectors_mirror_read.json`` (Udesk) or
``collectors_mirror_read_<store>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import psutil

from benchmarks.collectors.mirror_build import AT, replicated
from benchmarks.load import save
from collectors.helpscoutmirror import HelpScoutMirror, Keeper
from collectors.hosted.mirror import Aging, Change, Mirror, aging, sorted_aging
from monitor.store.engine import migrate, open_store
from tests.collectors.ticketlog import TicketLog

STEP = timedelta(minutes=5)
KEY = "\x1f"


@dataclass(frozen=True)
class Store:
    """How a collector keys its mirror: the open statuses, and whether the key carries
    the status (``team KEY status``) or is the team alone (Help Scout's mailbox)."""

    log: Callable[[], TicketLog]
    at: datetime
    open: tuple[str, ...]
    keyed: bool

    def key(self, team: str, status: str) -> str:
        return f"{team}{KEY}{status}" if self.keyed else team

    def groups(self, teams: list[str]) -> dict[str, str]:
        """The index's groups: each key of a team's open statuses -> the team."""
        return {self.key(t, s): t for t in teams for s in self.open}


def _stores() -> dict[str, Store]:
    from tests.collectors.stores.fxiaoke import LABELS, fxiaoke_log
    from tests.collectors.stores.helpscout import helpscout_log
    from tests.collectors.stores.udesk import udesk_log

    return {
        "udesk": Store(udesk_log, AT["udesk"], ("open", "solving"), True),
        "fxiaoke": Store(fxiaoke_log, AT["fxiaoke"], tuple(LABELS), True),
        "helpscout": Store(helpscout_log, AT["fxiaoke"], ("active", "pending"), False),
    }


Figures = dict[str, tuple[dict[str, int], Aging, int]]
"""Per team: open count per status, the aging figures, the open total reconciled."""


def _changes(state: pd.DataFrame, teams: set[str], store: Store) -> list[Change]:
    """The rows of a log state as the store's mirror keys them (open: an open status of
    a watched team)."""
    return [
        Change(
            str(r.id),
            store.key(str(r.queue), str(r.status)),
            r.created.to_pydatetime(),
            r.modified.to_pydatetime(),
            r.status in store.open and str(r.queue) in teams,
        )
        for r in state.itertuples()
    ]


def whole(mirror: Mirror, store: Store, teams: list[str], now: datetime) -> Figures:
    """The read before the index: every row of the mirror, each poll."""
    times = mirror.created_times()
    totals: dict[str, int] = {}
    if store.keyed:  # Fxiaoke's reconciliation summed them from the times
        for key, created in times.items():
            team = key.split(KEY, 1)[0]
            totals[team] = totals.get(team, 0) + len(created)
    else:  # Help Scout's read them again
        totals = mirror.open_counts()
    out: Figures = {}
    for t in teams:
        keys = list(dict.fromkeys(store.key(t, s) for s in store.open))
        counts = {s: len(times.get(store.key(t, s), [])) for s in store.open if store.keyed}
        found = aging((x for k in keys for x in times.get(k, [])), now)
        out[t] = (counts, found, totals.get(t, 0))
    return out


def indexed(mirror: Mirror, store: Store, teams: list[str], now: datetime) -> Figures:
    """The read now: the index (Help Scout's through its collector's keeper)."""
    if not store.keyed:
        keeper = Keeper("bench", HelpScoutMirror(), mirror, teams)
        keeper.built = True
        found = keeper.aging(now)
        assert found is not None
        index = keeper.index()
        return {t: ({}, found[t], index.count(t)) for t in teams}
    index = mirror.created_index(store.groups(teams))
    totals: dict[str, int] = {}
    for key, n in index.counts().items():
        team = key.split(KEY, 1)[0]
        totals[team] = totals.get(team, 0) + n
    return {
        t: (
            {s: index.count(store.key(t, s)) for s in store.open},
            sorted_aging(index.created(t), now),
            totals.get(t, 0),
        )
        for t in teams
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("udesk", "fxiaoke", "helpscout"), default="udesk")
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--polls", type=int, default=12)
    parser.add_argument("--store-url", default=None)
    args = parser.parse_args(argv)
    store = _stores()[args.store]
    at = store.at
    log = store.log()
    copies = replicated(log, at, args.open, args.queues)
    teams = [str(t) for t in copies.events["queue"].value_counts().index][: args.queues]
    watched = set(teams)
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(args.store_url or f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        mirror = Mirror(engine, f"bench-mirror-read-{args.store}")
        mirror.reset()
        mirror.apply(_changes(copies.state_at(at), watched, store), at)
        rss0, cpu0 = process.memory_info().rss, time.process_time()
        mirror.created_index(store.groups(teams))
        load_cpu, index_mb = time.process_time() - cpu0, (process.memory_info().rss - rss0) / 2**20
        polls: list[dict[str, float]] = []
        now = at
        for _ in range(args.polls):
            state = log.state_at(now + STEP)
            changed = state[state["modified"] > pd.Timestamp(now)]
            now += STEP
            cpu0 = time.process_time()
            mirror.apply(_changes(changed, watched, store), now)
            cpu1 = time.process_time()
            before = whole(mirror, store, teams, now)
            cpu2 = time.process_time()
            after = indexed(mirror, store, teams, now)
            cpu3 = time.process_time()
            if after != before:
                raise SystemExit(f"the index's figures differ from the whole mirror's at {now}")
            polls.append(
                {
                    "changes": len(changed),
                    "apply_ms": (cpu1 - cpu0) * 1000,
                    "whole_ms": (cpu2 - cpu1) * 1000,
                    "index_ms": (cpu3 - cpu2) * 1000,
                    "open": sum(total for _, _, total in after.values()),
                }
            )
        mirror.reset()
        engine.dispose()
    load = os.getloadavg()

    def median(name: str) -> float:
        return statistics.median(p[name] for p in polls)

    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(
        f"{args.store}: {polls[-1]['open']:.0f} open (last poll) over {len(teams)} queues "
        f"from {at:%F %H:%M}, {len(polls)} polls"
    )
    print(f"index first load: {load_cpu * 1000:.0f} ms CPU, +{index_mb:.0f} MB resident")
    print(
        f"per poll (median): {median('changes'):.0f} changes applied in "
        f"{median('apply_ms'):.1f} ms; figures of every queue from the whole mirror "
        f"{median('whole_ms'):.0f} ms (max {max(p['whole_ms'] for p in polls):.0f}), from "
        f"the index {median('index_ms'):.1f} ms (max {max(p['index_ms'] for p in polls):.1f});"
        " equal figures"
    )
    name = "" if args.store == "udesk" else f"_{args.store}"
    save(
        {
            "store": args.store,
            "open": args.open,
            "queues": len(teams),
            "store_url": "sqlite (temporary)" if args.store_url is None else "given",
            "index_load_ms": load_cpu * 1000,
            "index_mb": index_mb,
            "polls": polls,
            "load": load,
        },
        f"collectors_mirror_read{name}.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
