"""One hosted poll at 20 queues / 5,000 open and 500 queues / 200,000 open, per store.

    python -m benchmarks.collectors.http_poll [--stores zohodesk,zendesk,...] [--repeat 3]

Each store's collector polls its fake server (``tests/collectors/stores/``) on
127.0.0.1. The store is its real log's state at a busy instant (the Volvo log for Zoho
Desk, the Italian help desk for Jira, the ServiceNow log for the others), copied ``k``
times as ``k`` sets of queues (``G96 #3``...) until it holds the target number of open tickets; only
open tickets and tickets modified in the day before are kept (what a poll can see).
Nothing is drawn at random.

Printed per store and scale: requests per poll (counted by the fake server), Zoho's
credits, the median wall time of ``--repeat`` polls after one warm-up (loopback: the
collector's own cost plus the fake's, no network latency), and the poll rate the plans
allow beside it: the shortest interval within half of the plan (``budget.share`` 0.5).
The same figures go to ``benchmarks/results/collectors_http_poll.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from benchmarks.load import save
from collectors import REGISTRY
from collectors.base import Window
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores import freshdesk, incidents, jira, servicenow, zendesk, zohodesk
from tests.collectors.ticketlog import TicketLog

SCALES = ((20, 5_000), (500, 200_000))


class TiledLog:
    """A log's state at one instant, copied ``copies`` times under distinct queue names."""

    def __init__(self, log: TicketLog, instant: datetime, copies: int) -> None:
        state = log.state_at(instant)
        recent = state["modified"] >= pd.Timestamp(instant - timedelta(days=1))
        kept = state[~state["done"] | recent]
        frames = [
            kept.assign(id=kept["id"] + f"#{k}", queue=kept["queue"] + f" #{k}")
            for k in range(copies)
        ]
        self.state = pd.concat(frames, ignore_index=True)
        self.events = self.state  # the fakes rank queues by their rows
        self.groups = {str(q): rows for q, rows in self.state.groupby("queue")}

    def state_at(self, instant: datetime) -> pd.DataFrame:
        return self.state

    def queue_state_at(self, instant: datetime, queue: str) -> pd.DataFrame:
        return self.groups.get(queue, self.state.iloc[0:0])


def open_at(log: TicketLog, instant: datetime) -> int:
    return int((~log.state_at(instant)["done"]).sum())


def zoho_store(log: Any, clock: FakeClock, url: str, n: int) -> tuple[Any, dict[str, Any]]:
    fake = zohodesk.FakeZohoDesk(
        clock, refresh_token=zohodesk.REFRESH, client_secret=zohodesk.SECRET, log=log
    )
    names = zohodesk.team_names(log)[:n]
    config = zohodesk.Kit().config(url, {})
    config["departments"] = [
        {"id": zohodesk.department_id(i), "name": t} for i, t in enumerate(names)
    ]
    config.update(refresh_token=zohodesk.REFRESH, refresh_token_env=None)
    return fake, config


def zendesk_store(log: Any, clock: FakeClock, url: str, n: int) -> tuple[Any, dict[str, Any]]:
    config = zendesk.Kit().config(url, {})
    names = incidents.group_names(log)[:n]
    config["groups"] = [{"id": incidents.group_id(i), "name": g} for i, g in enumerate(names)]
    config.update(token=zendesk.TOKEN, token_env=None)
    return zendesk.FakeZendesk(clock, log=log), config


def jira_store(log: Any, clock: FakeClock, url: str, n: int) -> tuple[Any, dict[str, Any]]:
    config = jira.Kit().config(url, {})
    names = log.state["queue"].value_counts().index[:n]
    config["queues"] = [{"name": c, "jql": f'project = HD AND component = "{c}"'} for c in names]
    config.update(token=jira.TOKEN, token_env=None)
    return jira.FakeJira(clock, log=log), config


def freshdesk_store(log: Any, clock: FakeClock, url: str, n: int) -> tuple[Any, dict[str, Any]]:
    config = freshdesk.Kit().config(url, {})
    names = incidents.group_names(log)[:n]
    config["groups"] = [{"id": incidents.group_id(i), "name": g} for i, g in enumerate(names)]
    config.update(api_key=freshdesk.API_KEY, api_key_env=None)
    # The fake's minute never passes (its clock is frozen): lift its 400 a minute so that a
    # poll of 500 groups (1,000+ requests) is counted, not refused; the plans' limits are
    # applied to the count afterwards (budget_line).
    return freshdesk.FakeFreshdesk(clock, log=log, per_minute=1_000_000), config


def servicenow_store(log: Any, clock: FakeClock, url: str, n: int) -> tuple[Any, dict[str, Any]]:
    config = servicenow.Kit().config(url, {})
    config["assignment_groups"] = incidents.group_names(log)[:n]
    config.update(password=servicenow.PASSWORD, password_env=None)
    return servicenow.FakeServiceNow(clock, log=log), config


STORES: dict[str, tuple[Callable[[], TicketLog], datetime, Callable[..., Any], str]] = {
    "zohodesk": (zohodesk.volvo_log, datetime(2012, 5, 2, 10, tzinfo=UTC), zoho_store, "Volvo"),
    "zendesk": (
        zendesk.servicenow_log,
        datetime(2016, 3, 21, 16, tzinfo=UTC),
        zendesk_store,
        "ServiceNow",
    ),
    "jira": (jira.helpdesk_log, datetime(2012, 5, 15, 12, tzinfo=UTC), jira_store, "Italian"),
    "freshdesk": (
        freshdesk.freshdesk_log,
        datetime(2016, 3, 21, 16, tzinfo=UTC),
        freshdesk_store,
        "ServiceNow",
    ),
    "servicenow": (
        servicenow.incident_log,
        datetime(2016, 3, 21, 16, tzinfo=UTC),
        servicenow_store,
        "ServiceNow",
    ),
}

PLANS = {
    "zohodesk": (
        "credits/day",
        {
            "Standard 50,000+250/agent (10 agents)": 52_500,
            "Enterprise 100,000+1,000/agent": 110_000,
        },
    ),
    "zendesk": (
        "requests/min",
        {"Team 200": 200, "Growth/Professional 400": 400, "Enterprise 700": 700},
    ),
    "jira": ("requests/min", {"Cloud: unpublished (burst limits)": 0}),
    "freshdesk": (
        "requests/min",
        {"Growth 200": 200, "Pro 400": 400, "Enterprise 700": 700},
    ),
    "servicenow": ("requests/min", {"instance rule, e.g. 60/min for the user": 60}),
}


def listing_rate(
    store: str, tiled: TiledLog, instant: datetime, interval: timedelta
) -> float | None:
    """Tickets a minute the store's changed-since listing finds in the measured window
    (Zoho Desk: closed tickets modified; Freshdesk: tickets updated), from the data."""
    state = tiled.state
    recent = state["modified"] >= pd.Timestamp(instant - interval)
    if store == "zohodesk":
        recent &= state["done"]
    elif store != "freshdesk":
        return None
    return float(recent.sum()) / (interval.total_seconds() / 60)


def measure(store: str, queues: int, target_open: int, repeat: int) -> dict[str, Any]:
    load_log, instant, build, _name = STORES[store]
    log = load_log()
    copies = max(1, math.ceil(target_open / open_at(log, instant)))
    tiled = TiledLog(log, instant, copies)
    clock = FakeClock(instant)
    holder: dict[str, Any] = {}
    with FakeServer(lambda call: holder["fake"](call)) as server:
        fake, raw = build(tiled, clock, server.url, queues)
        holder["fake"] = fake
        kind = raw["kind"]
        config = REGISTRY[kind].config_model.model_validate(raw)
        rate = listing_rate(store, tiled, instant, config.interval)
        if rate is not None:  # the busy window's rate, as an operator would configure it
            raw = raw | {"peak_changes_per_minute": rate}
            config = REGISTRY[kind].config_model.model_validate(raw)
        collector = REGISTRY[kind](config, clock=lambda: clock().timestamp())  # type: ignore[call-arg]
        window = Window(instant - config.interval, instant)
        collector.collect(window)  # warm-up: the token, the fake's caches
        times, cpu, counts = [], [], []
        for _ in range(repeat):
            before = len([c for c in server.calls if c.path != "/oauth/v2/token"])
            started, cpu_started = time.perf_counter(), time.process_time()
            snapshot = collector.collect(window)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            after = len([c for c in server.calls if c.path != "/oauth/v2/token"])
            counts.append(after - before)
        collector.close()
    cost = config.poll_cost()
    return {
        "store": store,
        "queues": queues,
        "open_in_store": int((~tiled.state["done"]).sum()),
        "open_in_queues": sum(q.open_total for q in snapshot.queues),
        "requests": counts[-1],
        "requests_estimated": cost.requests,
        "peak_changes_per_minute": getattr(config, "peak_changes_per_minute", None),
        "credits": cost.credits,
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
        "interval": config.interval,
        "interval_s": config.interval.total_seconds(),
    }


def budget_line(result: dict[str, Any]) -> str:
    unit, plans = PLANS[result["store"]]
    parts = []
    for plan, limit in plans.items():
        if not limit:
            parts.append(f"{plan}: no published limit")
            continue
        ours = limit * 0.5
        if unit == "credits/day":
            polls = ours / result["credits"]
            parts.append(f"{plan}: at most {polls:.0f} polls/day (every {1440 / polls:.1f} min)")
        else:
            per_poll_minutes = result["requests"] / ours
            parts.append(f"{plan}: a poll every {per_poll_minutes:.1f} min at the least")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="zohodesk,zendesk,jira,freshdesk,servicenow")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    results: list[dict[str, Any]] = []
    for store in args.stores.split(","):
        for queues, target in SCALES:
            r = measure(store, queues, target, args.repeat)
            print(
                f"{store:9s} {queues:4d} queues, {r['open_in_store']:7,d} open in the store "
                f"({r['open_in_queues']:,d} in the queues polled): {r['requests']:5d} requests "
                f"(config estimate {r['requests_estimated']}, {r['credits']} credits) "
                f"in {r['seconds']:.2f} s, {r['cpu_seconds']:.2f} s CPU"
                + (
                    f"; listing at {r['peak_changes_per_minute']:.1f} changes/min"
                    if r["peak_changes_per_minute"] is not None
                    else ""
                )
                + ("" if r["requests"] <= r["requests_estimated"] else "  ESTIMATE EXCEEDED")
            )
            print(f"          budget (half the plan): {budget_line(r)}")
            unit, plans = PLANS[store]
            results.append(
                {k: v for k, v in r.items() if k != "interval"}
                | {"budget": budget_line(r), "unit": unit, "plans": plans}
            )
    save({"repeat": args.repeat, "results": results}, "collectors_http_poll.json")


if __name__ == "__main__":
    main()
