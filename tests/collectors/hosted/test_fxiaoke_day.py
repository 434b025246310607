"""Fxiaoke through the daemon for a simulated day, against its fake server.

As ``test_helpscout_day.py`` (8 March 2016 of the ServiceNow log, the busiest group's
work orders climbing past 500 open in the afternoon), three queues polled every
5 minutes with aging: 27 paced queries a poll. Between 13:15 and 14:15 the gateway
answers 429 with ``Retry-After`` up to the end of that hour; the tenant drops corp
access tokens after an hour though it announces two, so a call now and then answers
errorCode 20016 and the token is fetched again.

Checked: the rule fires before the storm and resolves in the evening, never during it;
the storm costs one request; no window is lost (the day's counters equal pandas'); the
dropped tokens fail no poll; the secrets appear in no log, metric, page or stored error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.fxiaoke import FxiaokeCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import (
    Day,
    captured_logs,
    check_rule_and_storm,
    day_settings,
    run_day,
)
from tests.collectors.stores.fxiaoke import PERMANENT, SECRET, FakeFxiaoke, Kit, fxiaoke_log

START = datetime(2016, 3, 8, tzinfo=UTC)
STORM = (START + timedelta(hours=13, minutes=15), START + timedelta(hours=14, minutes=15))
TOKEN_LIFE = 3600.0
RULE = "MailboxBacklogHigh"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    tmp = tmp_path_factory.mktemp("fxiaoke-day")
    clock = FakeClock(START)
    fake = FakeFxiaoke(clock, token_life=TOKEN_LIFE, announced_life=7200.0, storm=STORM)
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        source.update(
            app_secret=SECRET,
            app_secret_env=None,
            permanent_code=PERMANENT,
            permanent_code_env=None,
        )
        plan = Day(START, STORM, "fxiaoke", source["queues"][0]["name"], RULE, 450, 420)
        result = run_day(
            plan,
            tmp,
            clock,
            server,
            records,
            day_settings(plan, source),
            lambda config, now, sleep: FxiaokeCollector(config, clock=now, sleep=sleep),
            lambda call: call.path != "/cgi/corpAccessToken/get/V2",
        )
        yield {**result, "plan": plan, "queue": plan.queue, "fake": fake}


class TestFxiaokeDay:
    def test_the_rule_fires_before_the_storm_and_the_storm_costs_one_request(
        self, day: dict[str, Any]
    ) -> None:
        """Firing before the storm, through it and resolved after it; an hour of 429s
        costs one request, every poll in it rate limited, the rest fine (27 requests, or
        more listing pages)."""
        check_rule_and_storm(day["plan"], day, 27, paged=True)

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        created = resolved = 0
        start = pd.Timestamp(START - timedelta(hours=1))
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant)
            state = fxiaoke_log().state_at(instant)
            mine = state[state["queue"] == day["queue"]]
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            resolved += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][day["queue"]]
        assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
        assert created > 100 and resolved > 50

    def test_dropped_tokens_are_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        tokens = [c for c in day["calls"] if c.path == "/cgi/corpAccessToken/get/V2"]
        assert day["fake"].refused >= 10
        assert len(tokens) == day["fake"].refused + 1
        assert ("fxiaoke", "auth") not in day["daemon"].stats.collector_errors

    def test_credentials_appear_nowhere(self, day: dict[str, Any]) -> None:
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]
        for secret in (SECRET, PERMANENT):
            assert not [o for o in outputs if secret in o]
