"""Udesk at 500 queues through the daemon for a simulated day, against its fake server.

The reference's plan for 500 queues: open counts and ages from the mirror, fed by the
"updated in the last day" filter every poll, each queue's two filters counted once a
day (``mirror.reconcile_every: 1d``, two queues a 5-minute poll): 5 requests a poll.
The day of ``test_udesk_day.py`` (2 May 2012 of the Volvo log, a 429 storm from 10:15
to 11:15 with no ``Retry-After``, tokens expiring hourly, Udesk's 60 a minute counted by
the fake per minute), 500 of the log's teams as queues, our share 30 a minute.

The fake's clock here is the collector's: the simulated instant plus every second the
collector waited for its budget (the stepped scheduler does not move time inside a
poll), so the build (every filter listed, over a thousand requests at 30 a minute) takes
the simulated half hour and more it would take, and the fake counts each real minute's
requests and moves its tickets meanwhile.

Checked: the build is spread over the first polls, each within the 150 requests an
interval allows (``build_pages`` left to the budget), every filter listed and no page
read more than twice; those polls store nothing, count no failure and export the
build's progress; every successful poll's open counts per queue and status and ages
equal pandas' at the instant the poll ended, and the queues it counts have drift 0;
polls after the build count at most 2 queues (4 filters) besides the feed's pages, 5
requests a poll or fewer on average (the reference's 2-5); the
storm's polls fail after one request each and the next good poll catches up; no minute
over our 30; most queues counted during the day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.base import Snapshot, Window
from collectors.hosted.build import MirrorBuilding, allowed_per_poll
from collectors.hosted.rotation import in_slot
from collectors.udesk import UdeskCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import captured_logs, day_settings, run_day
from tests.collectors.hosted.test_udesk_day import DAY, PLAN, START, STORM
from tests.collectors.hosted.udeskcheck import check_all
from tests.collectors.stores.udesk import CHANGED, PASSWORD, FakeUdesk, Kit

QUEUES = 500


class Recording:
    """The collector, keeping each successful poll's snapshot, drift and the instant
    (on the collector's clock) it ended."""

    def __init__(self, inner: UdeskCollector, now: Callable[[], float]) -> None:
        self.inner = inner
        self.now = now
        self.seen: list[tuple[Snapshot, dict[str, int], datetime]] = []
        self.building: list[float] = []
        """The progress each poll of the build ended at."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def collect(self, window: Window) -> Snapshot:
        try:
            snapshot = self.inner.collect(window)
        except MirrorBuilding as err:
            self.building.append(err.progress)
            raise
        ended = datetime.fromtimestamp(self.now(), UTC)
        self.seen.append((snapshot, dict(self.inner.mirror_drift or {}), ended))
        return snapshot


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    clock = FakeClock(START)
    collector_clock: list[Callable[[], float]] = [lambda: clock().timestamp()]

    def now() -> datetime:  # the fake's time: the collector's, waits included
        return datetime.fromtimestamp(collector_clock[0](), UTC)

    fake = FakeUdesk(now, per_minute=PLAN, token_life=3600.0, storm=STORM)
    recording: list[Recording] = []

    def make(config: Any, at: Callable[[], float], sleep: Callable[[float], None]) -> Any:
        collector_clock[0] = at
        recording.append(Recording(UdeskCollector(config, clock=at, sleep=sleep), at))
        return recording[0]

    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": QUEUES})
        source.update(
            password=PASSWORD,
            password_env=None,
            mirror={"changed_filter": CHANGED, "reconcile_every": "1d"},
            budget={"requests_per_minute": PLAN, "share": 0.5},
        )
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("udesk-rotation-day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            make,
            lambda call: call.path != "/open_api_v1/log_in",
        )
        yield {
            **result,
            "fake": fake,
            "seen": recording[0].seen,
            "building": recording[0].building,
            "config": recording[0].config,
        }


def per_poll(day: dict[str, Any]) -> list[tuple[bool, list[Any]]]:
    """Each poll's success and API requests, in order."""
    api = [c for c in day["calls"] if c.path != "/open_api_v1/log_in"]
    out, at = [], 0
    for _, ok, sent in day["polls"]:
        out.append((ok, api[at : at + sent]))
        at += sent
    return out


class TestUdeskAt500Queues:
    def test_the_build_is_spread_over_polls_within_the_allowance(self, day: dict[str, Any]) -> None:
        config, building = day["config"], day["building"]
        polls = per_poll(day)
        built = len(building)
        assert built >= 5 and building == sorted(building) and 0 < building[0] < 1
        assert [ok for ok, _ in polls[: built + 1]] == [False] * built + [True]
        allowed = allowed_per_poll(config.budget, config.interval)
        assert allowed == 150 and config.build_pages_per_poll() == allowed - 5
        assert all(len(calls) <= allowed for _, calls in polls[: built + 1])
        filters = {str(f) for q in config.queues for f in q.filters.values()}
        assert len(filters) == 2 * QUEUES
        pages = [
            (c.arg("filter_id"), c.arg("page"))
            for _, calls in polls[: built + 1]
            for c in calls
            if c.arg("per_page") == "100" and c.arg("filter_id") != str(CHANGED)
        ]
        assert {f for f, _ in pages} == filters
        assert max(pages.count(p) for p in set(pages)) <= 2  # a poll's first page again
        assert len(pages) - len(set(pages)) <= built
        stats = day["daemon"].stats
        assert ("udesk", "building") not in stats.collector_errors
        assert stats.build_progress == {"udesk": 1.0}
        assert 'backlog_collector_mirror_build_progress{source="udesk"} 1.0' in day["metrics"]
        _, drift, ended = day["seen"][0]
        assert drift  # the turn's queues reconciled at the first poll after the build
        print(
            f"\nbuild: {built} polls storing nothing, then the poll that ends it; "
            f"{len(pages)} build pages ({len(set(pages))} distinct), requests a poll "
            f"{[len(calls) for _, calls in polls[: built + 1]]}, first figures at {ended}"
        )

    def test_every_later_poll_is_exact_and_each_queue_counted_has_no_drift(
        self, day: dict[str, Any]
    ) -> None:
        seen = day["seen"]
        assert len(seen) >= 250
        checked = sum(check_all(snapshot, ended) for snapshot, _, ended in seen)
        assert checked > 100_000
        config = day["config"]
        every = config.mirror.reconcile_every
        for snapshot, drift, _ in seen:
            turn = in_slot(snapshot.window.end, QUEUES, config.interval, every)
            assert {config.queues[j].name: drift[config.queues[j].name] for j in turn} == {
                config.queues[j].name: 0 for j in turn
            }
        # the queues counted during the day, each with drift 0 when counted
        last = seen[-1][1]
        print(f"\nqueues with a drift at the last poll: {sum(1 for d in last.values() if d)}")

    def test_later_polls_count_two_queues_and_read_the_feed(self, day: dict[str, Any]) -> None:
        after = per_poll(day)[len(day["building"]) + 1 :]  # after the poll that ends the build
        later = [calls for ok, calls in after if ok]
        counts = [sum(1 for c in calls if c.arg("per_page") == "1") for calls in later]
        feed = [sum(1 for c in calls if c.arg("filter_id") == str(CHANGED)) for calls in later]
        assert max(counts) <= 4 and all(f >= 1 for f in feed)
        assert all(len(calls) == n + f for calls, n, f in zip(later, counts, feed, strict=True))
        sent = [len(calls) for calls in later]
        print(
            f"\nlater polls: {len(later)}, requests mean {sum(sent) / len(sent):.2f} max "
            f"{max(sent)}; counts mean {sum(counts) / len(counts):.2f}; feed pages mean "
            f"{sum(feed) / len(feed):.2f} max {max(feed)}; estimate "
            f"{day['config'].poll_cost().requests}"
        )
        print("polls by requests:", dict(sorted(Counter(sent).items())))
        print("polls by feed pages:", dict(sorted(Counter(feed).items())))
        # the reference's plan at 500 queues: 2-5 requests a poll
        assert sum(sent) / len(sent) <= 5

    def test_the_storm_fails_polls_and_the_mirror_catches_up(self, day: dict[str, Any]) -> None:
        # the storm is on the fake's clock (the collector's, waits included)
        failed = [sent for _, ok, sent in day["polls"][len(day["building"]) :] if not ok]
        assert len(failed) >= 3 and all(sent == 1 for sent in failed)
        assert day["daemon"].stats.collector_errors == {("udesk", "rate_limited"): len(failed)}
        assert not [e for _, _, e in day["seen"] if STORM[0] <= e < STORM[1]]
        after = [(s, e) for s, _, e in day["seen"] if e >= STORM[1]]
        assert after and check_all(*after[0]) > 0

    def test_no_minute_over_our_share(self, day: dict[str, Any]) -> None:
        minutes = day["fake"].minute_calls
        assert minutes and max(minutes.values()) <= PLAN // 2

    def test_every_queue_is_counted_during_the_day(self, day: dict[str, Any]) -> None:
        config = day["config"]
        counted = {
            c.arg("filter_id")
            for c in day["calls"]
            if c.path.endswith("tickets_in_filter") and c.arg("per_page") == "1"
        }
        # the day's polls after the build, less the storm's, cover most of the 288 slots
        filters = {str(f) for q in config.queues for f in q.filters.values()}
        assert len(counted) >= 0.75 * len(filters) and counted <= filters
