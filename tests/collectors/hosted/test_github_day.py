"""GitHub through the daemon for a simulated day, against its fake server.

As the Zoho Desk day (``test_daemon_day.py``), on the same 2 May 2012 of the Volvo log,
now as issues labelled by team: label G96's open issues climb from 59 to about 100 and
drain back to about 70. Three labels, polled every 5 minutes (18 searches) by a GitHub
App whose installation tokens last an hour. Between 10:15 and 11:15 every search gets
GitHub's secondary-limit 429 with ``Retry-After`` up to the end of that hour.

Checked: the rule fires in the morning and resolves in the afternoon, never during the
storm; during it the daemon sends one search, not a poll's worth every 5 minutes; no
window is lost (the day's created and closed counters equal pandas' over the same log,
windows moved back by ``index_lag`` as the collector counts them); installation tokens
are renewed about 26 times with no poll failing for authentication; never more than 15
searches in any minute (budget.share 0.6 of the 30); the private key appears in no log, metric,
status page or stored error.

The same day again through GraphQL (``search_api: graphql``): the 18 counts of a poll in
one request of 1 point, the storm's 429 on ``/graphql`` too; the same checks, and no REST
search sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.github import GitHubCollector
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import (
    Day,
    captured_logs,
    check_rule_and_storm,
    day_settings,
    run_day,
)
from tests.collectors.stores.github import (
    APP_ID,
    INSTALLATION,
    FakeGitHub,
    Kit,
    app_keys,
    issue_log,
)

START = datetime(2012, 5, 2, tzinfo=UTC)
DAY = Day(
    start=START,
    storm=(START + timedelta(hours=10, minutes=15), START + timedelta(hours=11, minutes=15)),
    source="gh",
    queue="G96",
    rule="G96BacklogHigh",
    threshold=80,
    recover=78,
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the simulated day once; the tests read what it left."""
    clock = FakeClock(START)
    fake = FakeGitHub(clock, storm=DAY.storm, app=(APP_ID, app_keys()[1]))
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        app = {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": app_keys()[0]}
        source.update(token_env=None, app=app, budget={"share": 0.6})
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            lambda config, now, sleep: GitHubCollector(config, clock=now, sleep=sleep),
            lambda call: call.path == "/search/issues",
        )
        yield {**result, "fake": fake}


@pytest.fixture(scope="module")
def graphql_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same day, its counts through GraphQL."""
    clock = FakeClock(START)
    fake = FakeGitHub(clock, storm=DAY.storm, app=(APP_ID, app_keys()[1]))
    with captured_logs() as records, FakeServer(fake) as server:
        source = Kit().config(server.url, {"queues": 3})
        app = {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": app_keys()[0]}
        source.update(token_env=None, app=app, budget={"share": 0.6}, search_api="graphql")
        result = run_day(
            DAY,
            tmp_path_factory.mktemp("graphql-day"),
            clock,
            server,
            records,
            day_settings(DAY, source),
            lambda config, now, sleep: GitHubCollector(config, clock=now, sleep=sleep),
            lambda call: call.path in ("/search/issues", "/graphql"),
        )
        yield {**result, "fake": fake}


def lost_windows_check(day: dict[str, Any]) -> None:
    """The day's counters equal pandas' sum over consecutive windows, each from the
    previous successful poll, moved back by the index lag (3 minutes)."""
    created = closed = 0
    lag = pd.Timedelta(minutes=3)
    start = pd.Timestamp(START - timedelta(hours=1)) - lag  # the first window
    for instant, ok, _sent in day["polls"]:
        if not ok:
            continue
        end = pd.Timestamp(instant) - lag
        mine = issue_log().state_at(instant)
        mine = mine[mine["queue"] == DAY.queue]
        created += int(((mine["created"] >= start) & (mine["created"] < end)).sum())
        closed += int(((mine["resolved"] >= start) & (mine["resolved"] < end)).sum())
        start = end
    counters = day["counters"][DAY.queue]
    assert (counters["created_total"], counters["resolved_total"]) == (created, closed)
    assert created > 50 and closed > 50


class TestGitHubGraphQLDay:
    def test_the_rule_and_the_storm(self, graphql_day: dict[str, Any]) -> None:
        """As on REST, with one request a poll: the storm costs one request in all."""
        check_rule_and_storm(DAY, graphql_day, per_poll=1)
        assert not [c for c in graphql_day["calls"] if c.path == "/search/issues"]

    def test_no_window_is_lost(self, graphql_day: dict[str, Any]) -> None:
        lost_windows_check(graphql_day)

    def test_points_and_metrics(self, graphql_day: dict[str, Any]) -> None:
        """One point a poll, 12 an hour at most, far inside the 5,000 of the token; the
        points left reach the quota metric."""
        fake = graphql_day["fake"]
        assert fake.graphql_requests == sum(ok for _, ok, _ in graphql_day["polls"])
        assert max(spent for _, spent in fake.points.values()) <= 13
        metrics = graphql_day["metrics"]
        assert 'code="200",endpoint="graphql",source="gh"' in metrics
        assert 'code="429",endpoint="graphql",source="gh"' in metrics
        assert 'backlog_collector_quota_remaining{source="gh"}' in metrics


class TestGitHubDay:
    def test_the_rule_and_the_storm(self, day: dict[str, Any]) -> None:
        """The rule fires in the morning and resolves in the afternoon, never during the
        storm; an hour of 429s costs one search, not twelve polls' worth."""
        check_rule_and_storm(DAY, day, per_poll=18)

    def test_no_window_is_lost(self, day: dict[str, Any]) -> None:
        lost_windows_check(day)

    def test_installation_tokens_renewed_without_a_failed_poll(self, day: dict[str, Any]) -> None:
        """Tokens last an hour and are renewed 5 minutes before: about 26 renewals (none
        during the storm, when nothing is sent), no poll failed for authentication."""
        path = f"/app/installations/{INSTALLATION}/access_tokens"
        tokens = [c for c in day["calls"] if c.path == path]
        assert 22 <= len(tokens) <= 27
        assert ("gh", "auth") not in day["daemon"].stats.collector_errors

    def test_never_over_our_share_of_the_searches(self, day: dict[str, Any]) -> None:
        """The fake's own count per minute: at most 18 (budget.share 0.6 of GitHub's 30),
        so GitHub never refused a search for its primary limit."""
        used = day["fake"].minute_calls
        assert used and max(used.values()) <= 18
        assert 'code="403"' not in day["metrics"]

    def test_metrics_carry_requests_quota_and_exactness(self, day: dict[str, Any]) -> None:
        """Per-endpoint request counts, the quota left and the snapshot's exactness."""
        metrics = day["metrics"]
        assert 'code="200",endpoint="search/issues",source="gh"' in metrics
        assert 'code="429",endpoint="search/issues",source="gh"' in metrics
        assert 'code="201",endpoint="app/access_tokens",source="gh"' in metrics
        assert 'backlog_collector_quota_remaining{source="gh"}' in metrics
        assert 'backlog_collector_exactness{exactness="lagging",source="gh"} 1.0' in metrics

    def test_the_private_key_appears_nowhere(self, day: dict[str, Any]) -> None:
        """Not the key, nor an installation token: not in logs, metrics, the status page
        or the stored errors."""
        outputs = [day["logs"], day["metrics"], day["page"], *day["errors"]]
        assert "429" in day["logs"]  # the logs did record the storm
        secrets = [app_keys()[0].splitlines()[1], *day["fake"].installation_tokens]
        for secret in secrets:
            assert not [o for o in outputs if secret in o]
