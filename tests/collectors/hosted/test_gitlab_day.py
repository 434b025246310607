"""GitLab through the daemon for a simulated day, against its fake server.

As the Zoho Desk day (``test_daemon_day.py``), on 21 March 2016 of the ServiceNow log
as GitLab issues labelled by assignment group: label ``Group 70`` climbs from 58 open
issues to about 130 by 16:00 and drains to about 65 by 20:00. Three labels, polled every
5 minutes (18 REST calls and one GraphQL request), the instance allowing 60 requests a
minute (half ours). Between 11:00 and 12:00 every request gets 429 with ``Retry-After``
up to the end of that hour. Access tokens here do not expire within a day (GitLab's
tokens expire on a date), so no renewal is played.

Checked: the rule fires in the morning and resolves in the evening, never during the
storm; during it the daemon sends one request, not a poll's worth every 5 minutes; no
window is lost (the day's created and closed counters equal pandas' over the same
log); never more than 30 requests in a minute; the token appears in no log, metric,
status page or stored error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.gitlab import GitLabCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import (
    Day,
    captured_logs,
    check_rule_and_storm,
    day_settings,
    run_day,
)
from tests.collectors.stores.gitlab import TOKEN, FakeGitLab, Kit, issue_log

START = datetime(2016, 3, 21, tzinfo=UTC)
DAY = Day(
    start=START,
    storm=(START + timedelta(hours=11), START + timedelta(hours=12)),
    source="gl",
    queue="Group 70",
    rule="Group70BacklogHigh",
    threshold=90,
    recover=88,
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    clock = FakeClock(START)
    fake = FakeGitLab(clock, per_minute=60, storm=DAY.storm)
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        source.update(token_env=None, token=TOKEN, budget={"requests_per_minute": 60, "share": 0.5})
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            lambda config, now, sleep: GitLabCollector(config, clock=now, sleep=sleep),
            lambda call: call.path.startswith("/api/"),
        )
        yield {**result, "fake": fake}


class TestGitLabDay:
    def test_the_rule_and_the_storm(self, day: dict[str, Any]) -> None:
        """The rule fires in the morning and resolves in the evening, never during the
        storm; an hour of 429s costs one request, not twelve polls' worth."""
        check_rule_and_storm(DAY, day, per_poll=19)

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        """The day's counters equal pandas' sum over consecutive windows, each from the
        previous successful poll (the storm's failed polls included in the next one)."""
        created = closed = 0
        start = pd.Timestamp(START - timedelta(hours=1))  # the first poll's first_window
        for instant, ok, _sent in day["polls"]:
            if not ok:
                continue
            end = pd.Timestamp(instant)
            mine = issue_log().state_at(instant)
            mine = mine[mine["queue"] == DAY.queue]
            created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
            closed += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
            start = end
        counters = day["counters"][DAY.queue]
        assert (counters["created_total"], counters["resolved_total"]) == (created, closed)
        assert created > 50 and closed > 50

    def test_never_over_our_share_of_the_instance_limit(self, day: dict[str, Any]) -> None:
        """The fake's own count per minute: at most 30, half of the instance's 60."""
        used = day["fake"].minute_calls
        assert used and max(used.values()) <= 30

    def test_metrics_carry_requests_quota_and_exactness(self, day: dict[str, Any]) -> None:
        """Per-endpoint request counts, the quota left and the snapshot's exactness."""
        metrics = day["metrics"]
        assert 'code="200",endpoint="issues_statistics",source="gl"' in metrics
        assert 'code="200",endpoint="graphql",source="gl"' in metrics
        assert 'code="429",endpoint="graphql",source="gl"' in metrics
        assert 'backlog_collector_quota_remaining{source="gl"}' in metrics
        assert 'backlog_collector_exactness{exactness="exact",source="gl"} 1.0' in metrics

    def test_the_token_appears_nowhere(self, day: dict[str, Any]) -> None:
        """Not in logs, metrics, the status page or the stored errors."""
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]  # the logs did record the storm
        assert not [o for o in outputs if TOKEN in o]
