"""Help Scout through the daemon for a simulated day, against its fake server.

As ``test_daemon_day.py`` does for Zoho Desk: the daemon's jobs run in simulated time
(polls and rules every 5 minutes) on 8 March 2016 of the ServiceNow log, when the
busiest group's mailbox climbs from about 370 open conversations to over 500 in the
afternoon and drains to about 260 by night. Between 13:15 and 14:15 the store answers
every request with 429 and ``X-RateLimit-Retry-After`` up to the end of that hour. The
store drops access tokens after 2 hours though it announces 48, so a request now and
then meets a 401 and the token is fetched again. The store also counts every minute's
requests against Help Scout's 200 a minute.

Checked: the rule fires before the storm and resolves in the evening, never during it;
the storm costs one request, not twelve polls' worth; no window is lost (the day's
counters equal pandas' over the same log); the dropped tokens fail no poll; no minute
goes over our half of the 200; per-agent loads reach /metrics; and the planted secret
appears in no log, metric, status page or stored error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import (
    Day,
    captured_logs,
    check_rule_and_storm,
)
from tests.collectors.hosted.test_helpscout_rotation import helpscout_day
from tests.collectors.stores.helpscout import SECRET, FakeHelpScout, Kit, helpscout_log

START = datetime(2016, 3, 8, tzinfo=UTC)
STORM = (START + timedelta(hours=13, minutes=15), START + timedelta(hours=14, minutes=15))
TOKEN_LIFE = 7200.0
PLAN = 200  # Help Scout's requests a minute; half of them are ours
RULE = "MailboxBacklogHigh"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    tmp = tmp_path_factory.mktemp("helpscout-day")
    clock = FakeClock(START)
    fake = FakeHelpScout(
        clock, token_life=TOKEN_LIFE, announced_life=172800.0, per_minute=PLAN, storm=STORM
    )
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        source.update(
            client_secret=SECRET,
            client_secret_env=None,
            budget={"requests_per_minute": PLAN, "share": 0.5},
        )
        plan = Day(START, STORM, "helpscout", source["mailboxes"][0]["name"], RULE, 450, 420)
        result = helpscout_day(plan, tmp, clock, server, records, source)
        yield {**result, "plan": plan, "queue": plan.queue, "fake": fake}


class TestHelpScoutDay:
    def test_the_rule_fires_before_the_storm_and_the_storm_costs_one_request(
        self, day: dict[str, Any]
    ) -> None:
        """Firing before the storm, through it and resolved after it; an hour of 429s
        costs one request, every poll in it rate limited, the rest fine (16 requests, or
        more listing pages)."""
        check_rule_and_storm(day["plan"], day, 16, paged=True)

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        """The day's counters equal pandas' sum over consecutive windows."""
        created = resolved = 0
        start = pd.Timestamp(START - timedelta(hours=1))  # the first poll's first_window
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant)
            state = helpscout_log().state_at(instant)
            mine = state[state["queue"] == day["queue"]]
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            resolved += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][day["queue"]]
        assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
        assert created > 100 and resolved > 50

    def test_dropped_tokens_are_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        """Tokens die every 2 hours: each death is one 401 and one new token."""
        tokens = [c for c in day["calls"] if c.path == "/v2/oauth2/token"]
        assert 11 <= len(tokens) <= 13
        assert ("helpscout", "auth") not in day["daemon"].stats.collector_errors

    def test_no_minute_over_our_share(self, day: dict[str, Any]) -> None:
        """The fake store's own count per minute: within half of the 200."""
        minutes = day["fake"].minute_calls
        assert minutes and max(minutes.values()) <= PLAN // 2

    def test_metrics_carry_requests_quota_and_agents(self, day: dict[str, Any]) -> None:
        """Per-endpoint request counts (401s and 429s too), the quota left, agent loads."""
        metrics = day["metrics"]
        for expected in (
            'code="200",endpoint="mailboxes/folders",source="helpscout"',
            'code="401",endpoint=',
            'code="429",endpoint=',
            'backlog_collector_quota_remaining{source="helpscout"}',
            'backlog_collector_exactness{exactness="exact",source="helpscout"} 1.0',
            "backlog_agent_open_tickets{",
        ):
            assert expected in metrics

    def test_credentials_appear_nowhere(self, day: dict[str, Any]) -> None:
        """The planted secret: not in logs, metrics, the status page or stored errors."""
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]
        assert not [o for o in outputs if SECRET in o]
