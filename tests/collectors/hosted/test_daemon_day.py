"""Zoho Desk through the daemon for a simulated day, against its fake server.

The daemon's own jobs run in simulated time (``monitor/stepped.py``): polls and rules
every 5 minutes, on 2 May 2012 of the Volvo log, when department G96's
backlog climbs from 59 to about 100 open tickets and drains back to about 70. Between
10:15 and 11:15 the store answers every request with 429 and a ``Retry-After`` up to
the end of that hour. Access tokens last an hour.

Checked: the rule fires in the morning and resolves in the afternoon, never during the
storm; during it the daemon sends a handful of requests, not a poll's worth every
5 minutes; no window is lost (the day's created and resolved counters equal pandas'
over the same log); no poll fails for authentication though tokens expire 24 times; the
day's credits stay within the budget; and the planted credentials appear in no log,
metric, status page or stored error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.zohodesk import ZohoDeskCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import Day, captured_logs, day_settings, run_day
from tests.collectors.stores.zohodesk import REFRESH, SECRET, FakeZohoDesk, Kit, volvo_log

START = datetime(2012, 5, 2, tzinfo=UTC)
END = START + timedelta(days=1)
STORM = (START + timedelta(hours=10, minutes=15), START + timedelta(hours=11, minutes=15))
QUEUE = "G96"
PLAN_CREDITS = 20_000  # the fake portal's credits a day; half of them are ours


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once, on the shared harness (``dayrun``); the tests read
    what it left."""
    tmp = tmp_path_factory.mktemp("day")
    clock = FakeClock(START)
    fake = FakeZohoDesk(
        clock, refresh_token=REFRESH, client_secret=SECRET, daily_credits=PLAN_CREDITS, storm=STORM
    )
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"departments": 3})
        source.update(
            refresh_token=REFRESH,
            refresh_token_env=None,
            budget={"daily_credits": PLAN_CREDITS, "share": 0.5},
        )
        plan = Day(START, STORM, "zoho", QUEUE, "G96BacklogHigh", 80, 78)
        result = run_day(
            plan,
            tmp,
            clock,
            server,
            records,
            day_settings(plan, source),
            lambda config, now, sleep: ZohoDeskCollector(config, clock=now, sleep=sleep),
            lambda call: call.path.startswith("/api/"),
        )
        yield {**result, "fake": fake}


def _in_storm(instant: datetime) -> bool:
    return STORM[0] <= instant < STORM[1]


class TestZohoDeskDay:
    def test_the_rule_fires_in_the_morning_and_resolves_after_the_storm(
        self, day: dict[str, Any]
    ) -> None:
        """Firing before the storm, still firing through it, resolved in the afternoon."""
        states = day["states"]
        fired = min(t for t, s in states if s == "firing")
        resolved = min(t for t, s in states if s == "resolved")
        assert fired < STORM[0] < STORM[1] < resolved < END
        assert not [t for t, s in states if _in_storm(t) and s != "firing"]

    def test_the_storm_slows_polling_to_a_few_requests(self, day: dict[str, Any]) -> None:
        """An hour of 429s with Retry-After: one request, not twelve polls' worth; every
        poll in the storm fails as rate limited (none for another reason), the rest succeed."""
        storm = [(ok, sent) for t, ok, sent in day["polls"] if _in_storm(t)]
        normal = [(ok, sent) for t, ok, sent in day["polls"] if not _in_storm(t)]
        assert len(storm) >= 3 and not any(ok for ok, _ in storm)
        assert sum(sent for _, sent in storm) == 1
        assert all(ok and sent >= 19 for ok, sent in normal)  # 19, or more search pages
        assert day["daemon"].stats.collector_errors == {("zoho", "rate_limited"): len(storm)}

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        """The day's counters equal pandas' sum over consecutive windows, each from the
        previous successful poll (the storm's failed polls included in the next one)."""
        created = resolved = 0
        start = pd.Timestamp(START - timedelta(hours=1))  # the first poll's first_window
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant)
            state = volvo_log().state_at(instant)
            mine = state[state["queue"] == QUEUE]  # the department at that poll
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            resolved += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][QUEUE]
        assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
        assert created > 50 and resolved > 50

    def test_tokens_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        """Tokens expire hourly: about 24 renewals, no poll failed for authentication."""
        tokens = [c for c in day["calls"] if c.path == "/oauth/v2/token"]
        assert 24 <= len(tokens) <= 26
        assert ("zoho", "auth") not in day["daemon"].stats.collector_errors

    def test_credits_stay_within_our_share(self, day: dict[str, Any]) -> None:
        """The fake portal's own count of the day's credits: within half the plan."""
        spent = day["fake"].spent
        assert spent and max(spent.values()) <= PLAN_CREDITS // 2

    def test_metrics_carry_requests_quota_and_exactness(self, day: dict[str, Any]) -> None:
        """Per-endpoint request counts, the quota left and the snapshot's exactness."""
        metrics = day["metrics"]
        assert (
            'backlog_collector_requests_total{code="200",endpoint="ticketsCount",source="zoho"}'
            in metrics
        )
        assert 'code="429",endpoint="tickets/search",source="zoho"' in metrics
        assert 'backlog_collector_quota_remaining{source="zoho"}' in metrics
        assert 'backlog_collector_exactness{exactness="exact",source="zoho"} 1.0' in metrics

    def test_credentials_appear_nowhere(self, day: dict[str, Any]) -> None:
        """Planted secrets: not in logs, metrics, the status page or the stored errors."""
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]  # the logs did record the storm
        for secret in (REFRESH, SECRET):
            assert not [o for o in outputs if secret in o]
