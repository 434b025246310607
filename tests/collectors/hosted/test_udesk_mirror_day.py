"""Udesk with ``mirror:`` through the daemon for a simulated day, against its fake server.

The day of ``test_udesk_day.py`` (2 May 2012 of the Volvo log, three teams, polls every 5
minutes, a 429 storm from 10:15 to 11:15, tokens expiring hourly, Udesk's 60 a minute
counted by the fake), with the mirror on: the daemon attaches it from its own store, the
first poll rebuilds it, every later poll reads the "updated in the last day" filter.

Checked: every successful poll's oldest, median and 90th-percentile ages per queue equal
pandas' over the log's state at that instant, with drift 0; the polls in the storm fail
as rate limited after one request each and the mirror catches up after it (the cursor
stayed where the last good poll left it); no minute goes over our half of the 60; the
drift is on /metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from collectors.base import Snapshot, Window
from collectors.udesk import UdeskCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import captured_logs, day_settings, run_day
from tests.collectors.hosted.test_udesk_day import DAY, PLAN, START, STORM
from tests.collectors.hosted.test_udesk_mirror import check_exact
from tests.collectors.stores.udesk import CHANGED, PASSWORD, FakeUdesk, Kit


class Recording:
    """The collector, keeping each successful poll's snapshot and drift."""

    def __init__(self, inner: UdeskCollector) -> None:
        self.inner = inner
        self.last: Snapshot | None = None
        self.seen: list[tuple[Snapshot, dict[str, int]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def collect(self, window: Window) -> Snapshot:
        self.last = self.inner.collect(window)
        self.seen.append((self.last, dict(self.inner.mirror_drift or {})))
        return self.last


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    clock = FakeClock(START)
    fake = FakeUdesk(clock, per_minute=PLAN, token_life=3600.0, storm=STORM)
    recording: list[Recording] = []

    def make(config: Any, now: Callable[[], float], sleep: Callable[[float], None]) -> Any:
        recording.append(Recording(UdeskCollector(config, clock=now, sleep=sleep)))
        return recording[0]

    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        source.update(
            password=PASSWORD,
            password_env=None,
            mirror={"changed_filter": CHANGED},
            budget={"requests_per_minute": PLAN, "share": 0.5},
        )
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("udesk-mirror-day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            make,
            lambda call: call.path != "/open_api_v1/log_in",
        )
        yield {**result, "fake": fake, "seen": recording[0].seen}


def _in_storm(instant: datetime) -> bool:
    return STORM[0] <= instant < STORM[1]


class TestUdeskMirrorDay:
    def test_every_poll_has_exact_ages_and_no_drift(self, day: dict[str, Any]) -> None:
        seen = day["seen"]
        assert len(seen) >= 270  # a day of 5-minute polls, the storm's aside
        checked = sum(check_exact(snapshot) for snapshot, _ in seen)
        assert checked > 50_000
        assert all(set(drift.values()) == {0} for _, drift in seen)

    def test_the_storm_fails_polls_and_the_mirror_catches_up(self, day: dict[str, Any]) -> None:
        storm = [(ok, sent) for t, ok, sent in day["polls"] if _in_storm(t)]
        normal = [(ok, sent) for t, ok, sent in day["polls"] if not _in_storm(t)]
        assert len(storm) >= 3 and not any(ok for ok, _ in storm)
        assert sum(sent for _, sent in storm) == len(storm)
        assert all(ok and sent >= 7 for ok, sent in normal)  # 6 counts + the feed
        assert day["daemon"].stats.collector_errors == {("udesk", "rate_limited"): len(storm)}
        after = [s for s, _ in day["seen"] if s.window.end >= STORM[1]]
        assert after and check_exact(after[0]) > 0

    def test_no_minute_over_our_share(self, day: dict[str, Any]) -> None:
        minutes = day["fake"].minute_calls
        assert minutes and max(minutes.values()) <= PLAN // 2

    def test_the_drift_is_on_metrics(self, day: dict[str, Any]) -> None:
        lines = [
            line
            for line in day["metrics"].splitlines()
            if line.startswith("backlog_collector_mirror_drift{")
        ]
        assert len(lines) == 3 and all(line.endswith(" 0.0") for line in lines)
        assert PASSWORD not in day["metrics"]
