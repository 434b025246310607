"""Udesk through the daemon for a simulated day, against its fake server.

As ``test_daemon_day.py`` does for Zoho Desk, on the same day of the Volvo log (2 May
2012: team G96's backlog climbs from 59 to about 100 and drains to about 70), three
teams counted through their two filters each, polled every 5 minutes. Between 10:15 and
11:15 the store answers 429 with no ``Retry-After``; tokens expire after an hour; the
store checks every signature and nonce and counts each minute's requests against
Udesk's 60.

Checked: the rule fires before the storm and resolves in the afternoon, never during
it; each poll in the storm costs one request; the expired tokens are renewed without a
failed poll; no nonce is refused; no minute goes over our half of the 60; the open
counts of every successful poll equal pandas'; the planted password appears in no log,
metric, status page or stored error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collectors.base import Snapshot, Window
from collectors.udesk import UdeskCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import Day, captured_logs, day_settings, run_day
from tests.collectors.stores.udesk import PASSWORD, FakeUdesk, Kit, udesk_log

START = datetime(2012, 5, 2, tzinfo=UTC)
END = START + timedelta(days=1)
STORM = (START + timedelta(hours=10, minutes=15), START + timedelta(hours=11, minutes=15))
QUEUE = "G96"
PLAN = 60
DAY = Day(
    start=START,
    storm=STORM,
    source="udesk",
    queue=QUEUE,
    rule="G96BacklogHigh",
    threshold=80,
    recover=78,
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once on the shared harness; the tests read what it left."""
    clock = FakeClock(START)
    fake = FakeUdesk(clock, per_minute=PLAN, token_life=3600.0, storm=STORM)
    recording: list[Recording] = []
    opens: list[tuple[datetime, int]] = []

    def make(config: Any, now: Callable[[], float], sleep: Callable[[float], None]) -> Any:
        recording.append(Recording(UdeskCollector(config, clock=now, sleep=sleep)))
        return recording[0]

    def on_poll(instant: datetime, ok: bool) -> None:
        if ok:
            opens.append((instant, recording[0].g96_open()))

    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        source.update(
            password=PASSWORD,
            password_env=None,
            budget={"requests_per_minute": PLAN, "share": 0.5},
        )
        assert QUEUE in [q["name"] for q in source["queues"]]
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("udesk-day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            make,
            lambda call: call.path != "/open_api_v1/log_in",
            on_poll,
        )
        yield {**result, "opens": opens, "fake": fake}


class Recording:
    """The collector, keeping its latest snapshot for the test to read."""

    def __init__(self, inner: UdeskCollector) -> None:
        self.inner = inner
        self.last: Snapshot | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def collect(self, window: Window) -> Snapshot:
        self.last = self.inner.collect(window)
        return self.last

    def g96_open(self) -> int:
        assert self.last is not None
        return sum(q.open_total for q in self.last.queues if q.queue == QUEUE)


def _in_storm(instant: datetime) -> bool:
    return STORM[0] <= instant < STORM[1]


class TestUdeskDay:
    def test_the_rule_fires_before_the_storm_and_resolves_after(self, day: dict[str, Any]) -> None:
        states = day["states"]
        fired = min(t for t, s in states if s == "firing")
        resolved = min(t for t, s in states if s == "resolved")
        assert fired < STORM[0] < STORM[1] < resolved < END
        assert not [t for t, s in states if _in_storm(t) and s != "firing"]

    def test_each_poll_in_the_storm_costs_one_request(self, day: dict[str, Any]) -> None:
        storm = [(ok, sent) for t, ok, sent in day["polls"] if _in_storm(t)]
        normal = [(ok, sent) for t, ok, sent in day["polls"] if not _in_storm(t)]
        assert len(storm) >= 3 and not any(ok for ok, _ in storm)
        assert all(sent == 1 for _, sent in storm)
        assert all(ok and sent >= 6 for ok, sent in normal)
        assert day["daemon"].stats.collector_errors == {("udesk", "rate_limited"): len(storm)}

    def test_open_counts_equal_pandas(self, day: dict[str, Any]) -> None:
        """Every successful poll's G96 figure is the log's open tickets at that instant."""
        for instant, got in day["opens"]:
            state = udesk_log().state_at(instant)
            assert got == int(((state["queue"] == QUEUE) & ~state["done"]).sum()), instant
        assert max(n for _, n in day["opens"]) >= 95

    def test_expired_tokens_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        logins = [c for c in day["calls"] if c.path == "/open_api_v1/log_in"]
        assert 20 <= len(logins) <= 26
        assert ("udesk", "auth") not in day["daemon"].stats.collector_errors
        refused = day["fake"].refused
        assert refused and set(refused) == {"token expired"}  # never a nonce or a signature

    def test_no_minute_over_our_share(self, day: dict[str, Any]) -> None:
        minutes = day["fake"].minute_calls
        assert minutes and max(minutes.values()) <= PLAN // 2

    def test_credentials_appear_nowhere(self, day: dict[str, Any]) -> None:
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]
        assert not [o for o in outputs if PASSWORD in o]
