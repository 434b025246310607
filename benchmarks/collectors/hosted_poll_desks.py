"""Requests and wall time per poll of the Help Scout, Udesk and Fxiaoke collectors.

    python -m benchmarks.collectors.hosted_poll_desks [--repeat 3]

Two sizes, as the references give them: (a) 20 mailboxes, 5,000 open, 100 changes a
minute; (b) 500 mailboxes, 200,000 open, 300 changes a minute. Each is polled every
minute and every 5 minutes (the listing reads the window's changes, 25 a page), with
and without aging, and with ``folder_rotation`` (10 minutes at 1-minute polls, 30 at (b)
with aging; consecutive polls, the first, which reads every mailbox, reported apart),
beside the reference's requests a minute, against a local fake server
(``tests/collectors/fakeserver.py``) that answers the collector's requests from counts
spread over the mailboxes: Help Scout's counts come from folders, so the open backlog's
size changes what the answers say, not how many are asked. The figures' correctness is
the tests' business (``tests/collectors/cases/helpscout/``, real log, pandas); this
measures cost only.

Udesk and Fxiaoke are measured the same way at 20 and 500 queues (Udesk: two filters
a queue; Fxiaoke: three open statuses, a resolution field, with and without aging, its
0.5 s pace turned off for the measurement and its floor printed as requests x 0.5 s).

Fxiaoke with ``mirror:`` is measured as the reference plans it (seed-ticket-stores.md):
polls every minute, 100 work orders changed a minute at 20 queues and 300 at 500, each
queue reconciled hourly (20) or daily (500); the mirror in a SQLite file, its cursor
set before the first poll (the steady state: the first build, ~50 / ~2,000 pages, is not
measured here). Requests per poll are the changed-since listing's pages and the
reconciliations' totals, over ``--mirror-polls`` consecutive minutes, beside the
reference's 1-2 / 2-5 and the 120 a minute budget.

Printed per case: requests per poll (counted by the server), their rate per minute at
that interval beside the 100 a minute this daemon allows itself (half of Help Scout's
200), and the median wall time of a poll with the machine's load average (loopback
HTTP, so it is the client's own cost, not the network's). The same figures, with the
load average, go to ``benchmarks/results/collectors_hosted_poll_desks.json`` (read by
``./dev.sh bench``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.load import save
from collectors import REGISTRY
from collectors.base import Window
from collectors.fxiaoke import FxiaokeCollector
from collectors.helpscout import HelpScoutCollector, HelpScoutConfig
from collectors.hosted.mirror import Mirror
from collectors.udesk import UdeskCollector
from monitor.store.engine import migrate, open_store
from tests.collectors.fakeserver import Call, FakeServer, Reply

PLAN = 200
SHARE = 0.5
PAGE = 25
SIZES = {"a": (20, 5_000, 100), "b": (500, 200_000, 300)}
"""size -> (mailboxes, open conversations, changes a minute)."""


class CountsOnly:
    """Answers with counts: ``open`` spread evenly over ``mailboxes``, ``changes`` listed."""

    def __init__(self, mailboxes: int, open_: int, changes: int) -> None:
        self.per_box = open_ // mailboxes
        self.changes = changes
        self.mailboxes = mailboxes

    def __call__(self, call: Call) -> Reply:
        if call.path == "/v2/oauth2/token":
            return Reply(200, {"access_token": "bench", "expires_in": 172800})
        if re.fullmatch(r"/v2/mailboxes/\d+/folders", call.path):
            half = self.per_box // 2
            folders = [
                {"type": "open", "totalCount": half, "activeCount": half // 2},
                {"type": "assigned", "totalCount": self.per_box - half, "activeCount": half},
                *(
                    {"type": "mytickets", "userId": 100 + i, "totalCount": 5, "activeCount": 3}
                    for i in range((self.per_box - half) // 5)
                ),
            ]
            return Reply(200, {"_embedded": {"folders": folders}})
        if call.arg("modifiedSince"):
            number = int(call.arg("page", "1") or 1)
            left = self.changes - (number - 1) * PAGE
            items = [
                {
                    "id": number * PAGE + i,
                    "mailboxId": 1 + i % self.mailboxes,
                    "status": "closed" if i % 3 == 0 else "active",
                    "createdAt": "2026-01-01T00:00:00Z",
                    "closedAt": "2026-01-01T00:00:00Z" if i % 3 == 0 else None,
                }
                for i in range(max(0, min(PAGE, left)))
            ]
            body: dict[str, Any] = {"_embedded": {"conversations": items}, "_links": {}}
            if left > PAGE:
                body["_links"]["next"] = {"href": f"/v2/conversations?page={number + 1}"}
            return Reply(200, body)
        first = {"id": 1, "createdAt": "2025-12-01T00:00:00Z"}
        return Reply(
            200,
            {"_embedded": {"conversations": [first]}, "page": {"totalElements": self.per_box}},
        )


REFERENCE = {"a": (21, 24), "b": (54, 62)}
"""size -> the reference's requests a minute for Help Scout (seed-ticket-stores.md,
"cheapest correct polling": a poll a minute, the listing plus 20 folder calls, or plus
50 with 500 mailboxes rotated every 10 minutes)."""


def poll(
    size: str, interval: timedelta, aging: bool, repeat: int, rotation: timedelta | None = None
) -> dict[str, Any]:
    """Requests and wall time per poll; with ``rotation``, the polls after the first
    (which reads every mailbox, the start-up cost, reported as ``first_requests``)."""
    boxes, open_, per_minute = SIZES[size]
    changes = int(per_minute * interval.total_seconds() / 60)
    config = HelpScoutConfig.model_validate(
        {
            "kind": "helpscout",
            "name": "bench",
            "client_id": "bench",
            "client_secret": "bench",
            "mailboxes": [{"id": 1 + i, "name": f"m{i}"} for i in range(boxes)],
            "aging": aging,
            "interval": "1h" if rotation is None else f"{int(interval.total_seconds())}s",
            "folder_rotation": None if rotation is None else f"{int(rotation.total_seconds())}s",
            "max_wait": "60s",  # the cost is reported here, not refused
            "budget": {"requests_per_minute": 100_000},  # no wait inside the measurement
        }
    )
    end = datetime(2026, 1, 1, 12, tzinfo=UTC)
    walls, sents = [], []
    with FakeServer(CountsOnly(boxes, open_, changes)) as server:
        config = config.model_copy(update={"base_url": server.url})
        collector = HelpScoutCollector(config)
        try:
            for _ in range(repeat + (rotation is not None)):
                before = len(server.calls)
                began = time.perf_counter()
                collector.collect(Window(end - interval, end))
                walls.append(time.perf_counter() - began)
                sents.append(len([c for c in server.calls[before:] if "oauth2" not in c.path]))
                end += interval
        finally:
            collector.close()
    first = sents[0]
    if rotation is not None:  # the first poll reads every mailbox: reported apart
        walls, sents = walls[1:], sents[1:]
    sent = max(sents)
    rate = sent * 60 / interval.total_seconds()
    return {
        "size": size,
        "mailboxes": boxes,
        "open": open_,
        "interval": f"{int(interval.total_seconds() // 60)}m",
        "aging": aging,
        "rotation": None if rotation is None else f"{int(rotation.total_seconds() // 60)}m",
        "requests": sent,
        "first_requests": first,
        "reference_per_minute": REFERENCE[size],
        "per_minute": rate,
        "allowed": PLAN * SHARE,
        "within": rate <= PLAN * SHARE,
        "wall_ms": statistics.median(walls) * 1000,
    }


class UdeskCounts:
    """``tickets_in_filter`` answers a total; ``log_in`` a token (no signature check)."""

    def __call__(self, call: Call) -> Reply:
        if call.path == "/open_api_v1/log_in":
            return Reply(200, {"code": 1000, "open_api_auth_token": "bench"})
        meta = {"current_page": 1, "total_pages": 400, "total_count": 400}
        return Reply(200, {"code": 1000, "meta": meta, "contents": [{"id": 1}]})


class FxiaokeCounts:
    """Token, describe with the mapped fields, and ``data/query`` totals."""

    def __call__(self, call: Call) -> Reply:
        if call.path == "/cgi/corpAccessToken/get/V2":
            return Reply(
                200, {"errorCode": 0, "corpAccessToken": "b", "corpId": "c", "expiresIn": 7200}
            )
        if call.path.endswith("/describe"):
            fields = {f: {} for f in ("s", "q", "create_time", "r")}
            return Reply(200, {"errorCode": 0, "data": {"describe": {"fields": fields}}})
        row = {"create_time": 1767225600000}
        return Reply(200, {"errorCode": 0, "data": {"total": 400, "dataList": [row]}})


BUDGET_FXIAOKE = 120
"""Fxiaoke's default budget a minute (the source's own pace until the quota is known)."""


class FxiaokeChanges:
    """``data/query`` over work orders changed ``per_minute`` a minute, evenly, from
    ``start`` to the clock: the listing's ``GTE`` bounds, order, offset and limit applied;
    a total (``find_explicit_total_num``) answers the queue's share of ``open_``."""

    def __init__(self, queues: int, open_: int, per_minute: int, start: datetime) -> None:
        self.queues, self.per_queue, self.per_minute = queues, open_ // queues, per_minute
        self.start_ms = int(start.timestamp() * 1000)
        self.now_ms = self.start_ms

    def __call__(self, call: Call) -> Reply:
        if call.path == "/cgi/corpAccessToken/get/V2":
            return FxiaokeCounts()(call)
        if call.path.endswith("/describe"):
            fields = {f: {} for f in ("s", "q", "create_time", "r", "last_modified_time")}
            return Reply(200, {"errorCode": 0, "data": {"describe": {"fields": fields}}})
        data = (call.json() or {})["data"]
        if data["find_explicit_total_num"]:
            return Reply(200, {"errorCode": 0, "data": {"total": self.per_queue, "dataList": []}})
        info = data["search_query_info"]
        bound = max(int(f["field_values"][0]) for f in info["filters"])
        step = 60_000 / self.per_minute
        first = max(0, int(-(-(bound - self.start_ms) // step)))
        rows = []
        for n in range(first + info["offset"], first + info["offset"] + info["limit"]):
            at = self.start_ms + int(n * step)
            if at >= self.now_ms:
                break
            rows.append(
                {
                    "_id": str(n),
                    "q": str(n % self.queues),
                    "s": "1" if n % 3 else "4",
                    "create_time": at - 3_600_000,
                    "last_modified_time": at,
                    "r": None if n % 3 else at,
                }
            )
        return Reply(200, {"errorCode": 0, "data": {"dataList": rows}})


def fxiaoke_source(queues: int) -> dict[str, Any]:
    """A Fxiaoke source of ``queues`` queues over the fakes' field names (no pacing)."""
    return {
        "kind": "fxiaoke",
        "app_id": "a",
        "app_secret": "b",
        "permanent_code": "c",
        "open_user_id": "u",
        "status_field": "s",
        "open_statuses": {"1": "new", "2": "doing", "3": "waiting"},
        "queue_field": "q",
        "resolved_field": "r",
        "queues": [{"value": str(i), "name": f"q{i}"} for i in range(queues)],
        "min_interval": "0s",
    }


def fxiaoke_mirror(queues: int, polls: int) -> dict[str, Any]:
    """Requests per one-minute poll of Fxiaoke with ``mirror:`` in the steady state."""
    _, open_, per_minute = SIZES["a" if queues == 20 else "b"]
    period = "1h" if queues == 20 else "1d"
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    app = FxiaokeChanges(queues, open_, per_minute, start)
    listing, totals, walls = [], [], []
    with tempfile.TemporaryDirectory() as folder, FakeServer(app) as server:
        engine = open_store(f"sqlite:///{folder}/mirror.db")
        migrate(engine)
        config = REGISTRY["fxiaoke"].config_model.model_validate(
            {
                **fxiaoke_source(queues),
                "name": f"bench-fxiaoke-mirror-{queues}",
                "base_url": server.url,
                "interval": "1m",
                "peak_changes_per_minute": per_minute,
                "mirror": {"reconcile_every": period},
                "budget": {"requests_per_minute": 100_000},  # no wait in the measurement
            }
        )
        mirror = Mirror(engine, config.name)
        mirror.apply([], start)  # the steady state: built before the measured polls
        collector = FxiaokeCollector(config)
        collector.attach_mirror(mirror)
        try:
            for i in range(polls):
                end = start + timedelta(minutes=i + 1)
                app.now_ms = int(end.timestamp() * 1000)
                before = len(server.calls)
                began = time.perf_counter()
                collector.collect(Window(end - timedelta(minutes=1), end))
                walls.append(time.perf_counter() - began)
                sent = [
                    (c.json() or {}).get("data", {})
                    for c in server.calls[before:]
                    if c.path.endswith("/data/query")
                ]
                totals.append(sum(1 for d in sent if d.get("find_explicit_total_num")))
                listing.append(len(sent) - totals[-1])
        finally:
            collector.close()
            engine.dispose()
    requests = [a + b for a, b in zip(listing, totals, strict=True)]
    return {
        "kind": "fxiaoke+mirror",
        "queues": queues,
        "changes_per_minute": per_minute,
        "reconcile_every": period,
        "polls": polls,
        "listing_pages": [min(listing), max(listing)],
        "totals_mean": statistics.mean(totals),
        "requests_max": max(requests),
        "requests_mean": statistics.mean(requests),
        "reference": "1-2" if queues == 20 else "2-5",
        "budget_per_minute": BUDGET_FXIAOKE,
        "poll_cost_estimate": config.poll_cost().requests,
        "wall_ms": statistics.median(walls) * 1000,
    }


def other_store(kind: str, queues: int, aging: bool, repeat: int) -> dict[str, Any]:
    """One store's requests and wall time per poll (5-minute windows)."""
    if kind == "udesk":
        app: Any = UdeskCounts()
        source: dict[str, Any] = {
            "kind": "udesk",
            "email": "bench@example.cn",
            "password": "bench",
            "queues": [
                {"name": f"q{i}", "filters": {"open": 2 * i, "solving": 2 * i + 1}}
                for i in range(queues)
            ],
        }
        collector_type: Any = UdeskCollector
    else:
        app = FxiaokeCounts()
        source = {**fxiaoke_source(queues), "aging": aging}
        collector_type = FxiaokeCollector
    end = datetime(2026, 1, 1, 12, tzinfo=UTC)
    walls, sent = [], 0
    with FakeServer(app) as server:
        config = REGISTRY[kind].config_model.model_validate(
            {
                **source,
                "name": f"bench-{kind}-{queues}-{aging}",
                "base_url": server.url,
                "interval": "1d",
                "budget": {"requests_per_minute": 100_000},
            }
        )
        collector = collector_type(config)
        try:
            for _ in range(repeat):
                before = len(server.calls)
                began = time.perf_counter()
                collector.collect(Window(end - timedelta(minutes=5), end))
                walls.append(time.perf_counter() - began)
                sent = len(
                    [
                        c
                        for c in server.calls[before:]
                        if "log_in" not in c.path
                        and "corpAccessToken" not in c.path
                        and "describe" not in c.path
                    ]
                )
        finally:
            collector.close()
    limit = 60 * 0.5 if kind == "udesk" else 120
    return {
        "kind": kind,
        "queues": queues,
        "aging": aging,
        "requests": sent,
        "per_minute_5m": sent / 5,
        "allowed": limit,
        "wall_ms": statistics.median(walls) * 1000,
        "paced_s": sent * 0.5 if kind == "fxiaoke" else sent * 60 / limit,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mirror-polls", type=int, default=60)
    parser.add_argument("--mirror-only", action="store_true", help="only Fxiaoke with mirror:")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.1f} on {os.cpu_count()} cores")
    print(
        "store          queues changes/min reconcile listing-pages totals/poll "
        "requests/poll(max) reference budget/min wall-ms"
    )
    mirrored: list[dict[str, Any]] = []
    for queues in (20, 500):
        m = fxiaoke_mirror(queues, args.mirror_polls)
        mirrored.append(m)
        flag = "" if m["requests_max"] <= m["budget_per_minute"] else "  OVER"
        pages = "-".join(str(n) for n in m["listing_pages"])
        print(
            f"fxiaoke+mirror {queues:6} {m['changes_per_minute']:11} {m['reconcile_every']:9} "
            f"{pages:>13} {m['totals_mean']:11.2f} {m['requests_mean']:8.2f} "
            f"({m['requests_max']}) {m['reference']:>9} {m['budget_per_minute']:10.0f} "
            f"{m['wall_ms']:7.0f}{flag}"
        )
    print()
    others: list[dict[str, Any]] = []
    if args.mirror_only:
        save(
            {
                "load_before": load_before,
                "load_after": os.getloadavg(),
                "cpus": os.cpu_count(),
                "fxiaoke_mirror": mirrored,
            },
            "collectors_hosted_poll_desks_mirror.json",
        )
        return 0
    print(
        "size mailboxes open     interval rotation aging requests/poll first per-min "
        "reference allowed wall-ms"
    )
    helpscout: list[dict[str, Any]] = []
    cases = [
        (size, timedelta(minutes=minutes), aging, None)
        for size in SIZES
        for minutes in (1, 5)
        for aging in (False, True)
    ] + [
        ("a", timedelta(minutes=1), False, timedelta(minutes=10)),
        ("a", timedelta(minutes=1), True, timedelta(minutes=10)),
        ("b", timedelta(minutes=1), False, timedelta(minutes=10)),
        ("b", timedelta(minutes=1), True, timedelta(minutes=30)),
    ]
    for size, interval, aging, rotation in cases:
        r = poll(size, interval, aging, args.repeat, rotation)
        helpscout.append(r)
        flag = "" if r["within"] else "  OVER"
        low, high = r["reference_per_minute"]
        print(
            f"{r['size']:4} {r['mailboxes']:9} {r['open']:<8} {r['interval']:8} "
            f"{r['rotation'] or '-':8} {'yes' if aging else 'no':5} {r['requests']:13} "
            f"{r['first_requests']:5} {r['per_minute']:7.0f} {low:4}-{high:<4} "
            f"{r['allowed']:7.0f} {r['wall_ms']:7.0f}{flag}"
        )
    print()
    print("store   queues aging requests/poll per-min@5m allowed wall-ms  floor-s (pace/budget)")
    for kind, aging in (("udesk", False), ("fxiaoke", True), ("fxiaoke", False)):
        for queues in (20, 500):
            r = other_store(kind, queues, aging, args.repeat)
            r["within"] = r["per_minute_5m"] <= r["allowed"]
            others.append(r)
            flag = "" if r["within"] else "  OVER"
            print(
                f"{kind:7} {queues:6} {'yes' if aging else 'no':5} {r['requests']:13} "
                f"{r['per_minute_5m']:10.0f} {r['allowed']:7.0f} {r['wall_ms']:7.0f} "
                f"{r['paced_s']:8.0f}{flag}"
            )
    save(
        {
            "repeat": args.repeat,
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "cpus": os.cpu_count(),
            "helpscout": helpscout,
            "others": others,
            "fxiaoke_mirror": mirrored,
        },
        "collectors_hosted_poll_desks.json",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
