"""GitHub's configuration, queries and quota. Polls against the fake: ``cases/github/``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.base import Window
from collectors.github import GitHubCollector, GitHubConfig, Queue
from collectors.githubgraphql import PointBudget, graphql_path, request_cost
from config.loader import load_settings
from monitor.clock import FakeClock
from monitor.errors import ConfigError, RateLimited
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.github import REPO, TOKEN, FakeGitHub, app_keys, issue_log, queues
from tests.processes import run_cli

APP = {"app_id": 1, "installation_id": 2, "private_key": app_keys()[0]}


def source(**extra: Any) -> dict[str, Any]:
    base = {"kind": "github", "name": "gh", "repo": "acme/support", "token": "ghp_x"}
    return {**base, "queues": [{"name": "bugs", "label": "bug"}], **extra}


def load(*sources: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": list(sources)})).sources


class TestGitHubConfig:
    def test_bearer_token_and_the_api_version(self) -> None:
        """A classic, fine-grained or installation token, all sent as Bearer."""
        (config,) = load(source())
        headers = config.auth_headers()
        assert headers["Authorization"] == "Bearer ghp_x"
        assert headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert config.scope() == "repo:acme/support"

    def test_an_app_draws_on_its_installation_quota(self) -> None:
        """An app instead of a token: the quota key is the installation's, whatever key."""
        (config,) = load(source(token=None, app=APP))
        (other,) = load(source(token=None, app={**APP, "installation_id": 3}))
        assert config.budget_key() != other.budget_key()
        assert app_keys()[0] not in repr(config)

    def test_queue_qualifiers_quote_what_needs_it(self) -> None:
        """A label with a space or a colon is quoted; label and milestone combine."""
        assert Queue(name="q", label="bug").qualifiers() == "label:bug"
        both = Queue(name="q", label="needs triage", milestone="v2.1: GA")
        assert both.qualifiers() == 'label:"needs triage" milestone:"v2.1: GA"'
        assert Queue(name="all").qualifiers() == ""

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"token": None}, "one of token and token_file is required"),
            ({"org": "acme"}, "exactly one of repo"),
            ({"repo": "no-slash"}, "repo"),
            ({"queues": [{"name": "q", "label": 'a"b'}]}, "label"),
            ({"app": {**APP, "private_key": "ghp_not_a_key"}}, "not a PEM private key"),
            ({"app": APP}, "exactly one of token"),
        ],
    )
    def test_mistakes_name_the_source(self, extra: dict[str, Any], message: str) -> None:
        with pytest.raises(ConfigError, match=rf"sources -> 0.*{message}"):
            load(source(**extra))

    def test_cost_per_poll_against_the_search_limit(self) -> None:
        """20 labels x 6 searches every 10 minutes = 12 a minute, within half of 30;
        every 5 minutes it is 24, over the 15: an error naming the interval's source.
        A budget given without its limit still means 30 a minute. (REST asked for: auto
        would read 120 searches through GraphQL.)"""
        twenty = [{"name": f"q{i}", "label": f"l{i}"} for i in range(20)]
        (config,) = load(source(queues=twenty, search_api="rest"))
        assert config.poll_cost().requests == 120
        assert config.budget.per_minute() == 15
        with pytest.raises(ConfigError, match=r"sources -> 0: requests per minute"):
            load(source(queues=twenty, interval="5m", search_api="rest"))
        (shared,) = load(
            source(queues=twenty, interval="5m", budget={"share": 1.0}, search_api="rest")
        )
        assert shared.budget.per_minute() == 30

    def test_sources_of_one_token_are_checked_together(self) -> None:
        """Two repositories, one token: 12 + 12 searches a minute, over the 15 a token
        allows, though each alone fits; with another token each, both load."""
        twenty = [{"name": f"q{i}", "label": f"l{i}"} for i in range(20)]
        one = source(queues=twenty, search_api="rest")
        two = source(name="gh2", repo="acme/web", queues=twenty, search_api="rest")
        with pytest.raises(ConfigError, match=r"sources -> 1 -> interval: GitHub sources gh, gh2"):
            load(one, two)
        assert len(load(one, {**two, "token": "ghp_other"})) == 2


class TestGraphQLChoiceAndCost:
    def test_auto_reads_through_graphql_what_a_minute_of_searches_cannot_hold(self) -> None:
        """auto: 2 queues (12 searches) fit the 15 a minute: REST; 3 queues (18) do not:
        GraphQL, 1 request and 1 point a poll and no REST search priced; 20 queues at
        share 1 (120 searches of 30) likewise. rest and graphql are as asked."""
        two = [{"name": f"q{i}", "label": f"l{i}"} for i in range(2)]
        three = [*two, {"name": "q2", "label": "l2"}]
        (small,) = load(source(queues=two))
        assert not small.uses_graphql() and small.poll_cost().requests == 12
        assert small.points_per_poll() == 0
        (large,) = load(source(queues=three))
        assert large.uses_graphql() and large.poll_cost().requests == 0
        assert (large.graphql_requests(), large.points_per_poll()) == (1, 1)
        assert ("GraphQL points per hour", 6.0, 2500.0) in large.budget_use()
        (rest,) = load(source(queues=three, search_api="rest"))
        assert not rest.uses_graphql()
        (forced,) = load(source(queues=two, search_api="graphql"))
        assert forced.uses_graphql()

    def test_points_a_poll_in_batches(self) -> None:
        """500 queues x 6 = 3,000 searches: 60 requests of 50 (1 point each), 30 of 100
        (1 point each: 100 connections / 100); 150 aliases would cost 2."""
        many = [{"name": f"q{i}", "label": f"l{i}"} for i in range(500)]
        (config,) = load(source(queues=many, interval="1h"))
        assert (config.graphql_requests(), config.points_per_poll()) == (60, 60)
        (full,) = load(source(queues=many, interval="1h", graphql_batch=100))
        assert (full.graphql_requests(), full.points_per_poll()) == (30, 30)
        assert [request_cost(n) for n in (1, 49, 50, 100, 149, 150)] == [1, 1, 1, 1, 1, 2]

    def test_graphql_endpoint_of_github_and_of_enterprise_server(self) -> None:
        assert graphql_path("https://api.github.com") == ("https://api.github.com", "/graphql")
        ghes = graphql_path("https://git.example.com/api/v3/")
        assert ghes == ("https://git.example.com", "/api/graphql")

    def test_sources_of_one_token_share_its_points(self) -> None:
        """Two GraphQL sources of one token, 60 points a poll each every 2 hours: 30 an
        hour each of the 50 this daemon may use (share 0.5 of 100): each fits, together
        60 is over; refused naming both."""
        many = [{"name": f"q{i}", "label": f"l{i}"} for i in range(500)]
        one = source(queues=many, interval="2h", graphql_points_per_hour=100)
        two = {**one, "name": "gh2", "repo": "acme/web"}
        assert len(load(one)) == 1
        with pytest.raises(ConfigError, match=r"sources -> 1 -> interval: .*60 GraphQL points"):
            load(one, two)


class TestPointBudget:
    def test_an_hour_of_points_then_the_oldest_ages_out(self) -> None:
        """3 points an hour: three requests go at once, a fourth waits until the first
        is an hour old."""
        now = [0.0]
        budget = PointBudget("gh", 3, lambda: now[0])
        for at in (0.0, 10.0, 20.0):
            now[0] = at
            assert budget.wait(1) == 0
            budget.spend(1)
        now[0] = 30.0
        assert budget.wait(1) == pytest.approx(3570.0)
        now[0] = 3600.0
        assert budget.wait(1) == 0

    def test_the_store_word_bounds_the_next_request(self) -> None:
        """rateLimit said 0 left until resetAt: wait until then, whatever our count; its
        cost replaces our estimate."""
        budget = PointBudget("gh", None, lambda: 100.0)
        budget.spend(1)
        budget.observe(2, 0, 400.0)
        assert budget.used() == 2
        assert budget.wait(1) == pytest.approx(300.0)
        budget.observe(1, 5, 400.0)
        assert budget.wait(1) == 0


def _collector(url: str, name: str, clock: Any, slept: list[float], **extra: Any) -> Any:
    config = GitHubConfig.model_validate(
        {
            "kind": "github",
            "name": name,
            "api_url": url,
            "repo": REPO,
            "token": TOKEN,
            "queues": queues(5),
            "budget": {"share": 1.0},
            "max_wait": "90s",
            **extra,
        }
    )
    return GitHubCollector(config, clock=clock, sleep=slept.append)


class TestOneTokenOneQuota:
    def test_two_sources_share_the_thirty_searches(self) -> None:
        """Two sources of one token, 30 searches each a poll: together they never send
        more than 30 in a minute of the store's clock, so GitHub never says 403."""
        start = datetime(2012, 5, 2, 10, tzinfo=UTC)
        slept: list[float] = []
        store = FakeClock(start)
        now = lambda: start + timedelta(seconds=sum(slept))  # noqa: E731
        fake = FakeGitHub(now, per_minute=30)
        with FakeServer(fake) as server:
            epoch = lambda: now().timestamp()  # noqa: E731
            first = _collector(server.url, "a", epoch, slept)
            second = _collector(server.url, "b", epoch, slept)
            assert first.client.budget is second.client.budget
            window = Window(store() - timedelta(minutes=15), store())
            first.collect(window)
            second.collect(window)
            assert not [c for c in server.calls if c.path != "/search/issues"]
            assert len(server.calls) == 60 and len(slept) == 1
            assert max(fake.minute_calls.values()) == 30
            first.close()
            second.close()

    def test_two_graphql_sources_share_the_points(self) -> None:
        """Two GraphQL sources of one token, 1 point a poll each, 2 points an hour this
        daemon's (share 0.5 of 4): a and b poll, then a's next poll waits for the hour
        (over max_wait: RateLimited) without sending; GitHub never said RATE_LIMITED."""
        start = datetime(2012, 5, 2, 10, tzinfo=UTC)
        fake = FakeGitHub(lambda: start, per_minute=30)
        extra = {
            "search_api": "graphql",
            "graphql_points_per_hour": 4,
            "budget": {"share": 0.5},
            "interval": "1d",
        }
        with FakeServer(fake) as server:
            epoch = start.timestamp
            first = _collector(server.url, "a", epoch, [], **extra)
            second = _collector(server.url, "b", epoch, [], **extra)
            assert first.graphql is not None and second.graphql is not None
            assert first.graphql.points is second.graphql.points
            window = Window(start - timedelta(minutes=15), start)
            first.collect(window)
            second.collect(window)
            with pytest.raises(RateLimited):
                first.collect(window)
            assert [c.path for c in server.calls] == ["/graphql", "/graphql"]
            first.close()
            second.close()

    def test_graphql_secondary_limit_waits_a_minute(self) -> None:
        """The fake's secondary limit at 2 GraphQL requests a minute: a poll of 20 queues
        (3 requests) gets 403 "secondary rate limit" with Retry-After: 60 on its third,
        waits the minute and completes with figures equal to pandas'."""
        start = datetime(2012, 5, 2, 10, tzinfo=UTC)
        slept: list[float] = []
        now = lambda: start + timedelta(seconds=sum(slept))  # noqa: E731
        fake = FakeGitHub(now, secondary_per_minute=2)
        with FakeServer(fake) as server:
            collector = _collector(
                server.url,
                "a",
                lambda: now().timestamp(),
                slept,
                search_api="graphql",
                queues=queues(20),
            )
            snapshot = collector.collect(Window(start - timedelta(minutes=15), start))
            collector.close()
        codes = collector.http_stats.requests
        assert (codes[("graphql", "200")], codes[("graphql", "403")]) == (3, 1)
        assert slept == [pytest.approx(60.0)]
        state = issue_log().state_at(start)
        for q in snapshot.queues:
            mine = state[(state["queue"] == q.queue) & (state["status"] == "open")]
            assert q.open_total == len(mine)
        assert len(snapshot.queues) == 20

    def test_primary_limit_waits_until_the_reset(self) -> None:
        """Someone else spent the minute: GitHub's 403 with no searches left is a wait
        until ``X-RateLimit-Reset``, then the poll completes with whole figures."""
        start = datetime(2012, 5, 2, 10, 0, 30, tzinfo=UTC)
        slept: list[float] = []
        now = lambda: start + timedelta(seconds=sum(slept))  # noqa: E731
        fake = FakeGitHub(now, per_minute=30)
        fake.minute_calls[(TOKEN, "201205021000")] = 30  # another program's searches
        with FakeServer(fake) as server:
            collector = _collector(server.url, "a", lambda: now().timestamp(), slept)
            window = Window(start - timedelta(minutes=15), start)
            snapshot = collector.collect(window)
            codes = collector.http_stats.requests
            assert codes[("search/issues", "403")] == 1
            assert codes[("search/issues", "200")] == 30
            # 30 s from 10:00:30 to the reset at 10:01; then 30 s more before the last
            # search, as our own count of 30 a minute includes the refused one
            assert slept == [pytest.approx(30.0), pytest.approx(30.0)]
            state = issue_log().state_at(start)
            g97 = state[(state["queue"] == "G97") & (state["status"] == "open")]
            assert snapshot.queues[0].open_by_status_priority == {("open", ""): len(g97)}
            collector.close()


class TestCheckConfig:
    """``check-config`` on the documented example: its cost against the search limit."""

    EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "github.yaml"

    def check(self, tmp_path: Path, replace: tuple[str, str] | None = None) -> Any:
        text = self.EXAMPLE.read_text(encoding="utf-8")
        if replace is not None:
            assert replace[0] in text
            text = text.replace(*replace)
        path = tmp_path / "config.yaml"
        path.write_text(text, encoding="utf-8")
        root = self.EXAMPLE.parents[2]
        return run_cli("check-config", "--config", path, cwd=root, GITHUB_TOKEN="PLANTED-gh")

    def test_the_example_is_valid_quiet_and_over_the_limit_every_minute(
        self, tmp_path: Path
    ) -> None:
        """As written (auto: GraphQL, 1 point every 5 minutes): quiet. On REST, 24
        searches every minute, 24 a minute of the 15 allowed: exit 2 naming the source;
        every 2 minutes, 12 of 15 (80 %): a warning. On GraphQL with 100 points an hour
        (50 this daemon's), a poll a minute is 60 points an hour: exit 2."""
        ok = self.check(tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "warning" not in ok.stderr and "PLANTED" not in ok.stdout + ok.stderr
        auto = "interval: 5m\n    search_api: auto"
        over = self.check(tmp_path, (auto, "interval: 1m\n    search_api: rest"))
        assert over.returncode == 2
        assert "sources -> 0: requests per minute" in over.stderr
        close = self.check(tmp_path, (auto, "interval: 110s\n    search_api: rest"))
        assert close.returncode == 0, close.stderr
        assert "warning: sources -> 0 -> interval: polling uses" in close.stderr
        points = self.check(tmp_path, (auto, "interval: 1m\n    graphql_points_per_hour: 100"))
        assert points.returncode == 2
        assert "GraphQL points per hour: a poll every 1m uses 60, over the 50" in points.stderr


class TestAsOfAPastInstant:
    """``snapshot --as-of`` on GitHub: created/closed search qualifiers reconstruct each
    label queue at a past instant, equal to pandas over the fake's issues (the Volvo log
    as the store holds it now, every issue under its label of today)."""

    NOW = datetime(2012, 5, 20, 12, tzinfo=UTC)
    INSTANTS = (
        datetime(2012, 4, 20, tzinfo=UTC),
        datetime(2012, 5, 1, 9, 30, tzinfo=UTC),
        datetime(2012, 5, 10, 18, tzinfo=UTC),
    )

    def expected(self, instant: datetime, queue: str) -> dict[str, Any]:
        import pandas as pd

        state = issue_log().state_at(self.NOW)
        mine = state[state["queue"] == queue]
        t, start = pd.Timestamp(instant), pd.Timestamp(instant - timedelta(days=1))
        closed = mine["status"] == "closed"
        was_open = (mine["created"] < t) & (~closed | (mine["resolved"] >= t))
        live = mine[was_open]
        ages = {
            name: int((live["created"] < t - pd.Timedelta(days=d)).sum())
            for name, d in (("7d", 7), ("14d", 14), ("30d", 30))
        }
        oldest = (t - live["created"].min()).total_seconds() if len(live) else None
        return {
            "open": len(live),
            "created": int(((mine["created"] >= start) & (mine["created"] < t)).sum()),
            "closed": int((closed & (mine["resolved"] >= start) & (mine["resolved"] < t)).sum()),
            "older_than": ages,
            "oldest": oldest,
        }

    @pytest.mark.parametrize("api", ["rest", "graphql"])
    def test_open_flow_and_aging_equal_pandas(self, api: str) -> None:
        fake = FakeGitHub(lambda: self.NOW, per_minute=1_000_000)
        with FakeServer(fake) as server:
            collector = _collector(
                server.url, "gh", lambda: self.NOW.timestamp(), [], search_api=api
            )
            try:
                for instant in self.INSTANTS:
                    window = Window(instant - timedelta(days=1), instant, historical=True)
                    snapshot = collector.collect(window)
                    assert snapshot.exactness == "approximate"
                    for q in snapshot.queues:
                        got = {
                            "open": q.open_total,
                            "created": q.created,
                            "closed": q.resolved,
                            "older_than": dict(q.older_than or {}),
                            "oldest": q.oldest_age_s,
                        }
                        assert got == self.expected(instant, q.queue), (instant, q.queue)
                    assert sum(q.open_total for q in snapshot.queues) > 100
            finally:
                collector.close()
            if api == "rest":
                queries = [c.arg("q") or "" for c in server.calls]
            else:  # 5 queues x 10 searches as of a past instant: 1 request a snapshot
                assert [c.path for c in server.calls] == ["/graphql"] * len(self.INSTANTS)
                queries = [q for c in server.calls for q in c.json()["variables"].values()]
            assert any("closed:>=2012-04-20T00:00:00Z created:<" in q for q in queries)

    def test_the_live_poll_is_unchanged(self) -> None:
        """Without ``historical`` the open backlog is ``is:open`` today."""
        fake = FakeGitHub(lambda: self.NOW, per_minute=1_000_000)
        with FakeServer(fake) as server:
            collector = _collector(server.url, "gh", lambda: self.NOW.timestamp(), [])
            try:
                snapshot = collector.collect(Window(self.NOW - timedelta(hours=1), self.NOW))
            finally:
                collector.close()
        state = issue_log().state_at(self.NOW)
        for q in snapshot.queues:
            mine = state[state["queue"] == q.queue]
            assert q.open_total == int((mine["status"] == "open").sum())
        assert snapshot.exactness == "lagging"
