"""The shared HTTP layer against a local server: budget, retries, 429s, typed errors.

Time is a fake clock the test moves and ``sleep`` only records (and advances it): no test
waits on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.hosted import Budget, HttpClient, NoAuth, QuotaHeaders
from monitor.errors import AuthFailed, MappingError, RateLimited, SourceUnavailable
from tests.collectors.fakeserver import Call, FakeServer, Fault, Reply


class Time:
    """Epoch seconds moved by hand; ``sleep`` records each wait and moves time on."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def ok(call: Call) -> Reply:
    return Reply(200, {"count": 7, "path": call.path})


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(ok) as fake:
        yield fake


@pytest.fixture
def clock() -> Time:
    return Time()


def client(
    server: FakeServer,
    clock: Time,
    per_minute: int | None = None,
    daily: int | None = None,
    **kwargs: object,
) -> HttpClient:
    options: dict[str, object] = {"timeout": 5.0, "retries": 3, "max_wait": 30.0}
    options.update(kwargs)
    return HttpClient(
        "desk",
        server.url,
        auth=NoAuth({"Authorization": "Bearer planted-token"}),
        budget=Budget("desk", per_minute, daily, clock),
        sleep=clock.sleep,
        rand=lambda: 0.5,
        **options,  # type: ignore[arg-type]
    )


class TestBudget:
    def test_per_minute_limit_waits_for_the_oldest_request_to_leave_the_minute(
        self, server: FakeServer, clock: Time
    ) -> None:
        """The fourth request of a 3-per-minute budget waits until the first is 60 s old."""
        http = client(server, clock, per_minute=3)
        for _ in range(3):
            http.get("count", "/count")
            clock.now += 10
        http.get("count", "/count")
        assert clock.slept == [30.0]
        assert len(server.calls) == 4

    def test_a_wait_longer_than_max_wait_fails_the_poll_without_sending(
        self, server: FakeServer, clock: Time
    ) -> None:
        """Over ``max_wait``, RateLimited says how long; nothing more reaches the store."""
        http = client(server, clock, per_minute=1, max_wait=5.0)
        http.get("count", "/count")
        with pytest.raises(RateLimited) as caught:
            http.get("count", "/count")
        assert caught.value.retry_after == pytest.approx(60.0)
        assert len(server.calls) == 1

    def test_daily_credits_spent_raise_until_the_next_day(
        self, server: FakeServer, clock: Time
    ) -> None:
        """Credits are counted per UTC day and come back the next day."""
        http = client(server, clock, daily=10)
        http.get("count", "/count", credits=6)
        with pytest.raises(RateLimited):
            http.get("count", "/count", credits=6)
        clock.now += 86400
        http.get("count", "/count", credits=6)
        assert len(server.calls) == 2

    def test_the_store_remaining_quota_header_is_obeyed(
        self, server: FakeServer, clock: Time
    ) -> None:
        """A store saying 0 left this minute holds the next request for a minute."""
        server.extra_headers = lambda _call: {"X-Rate-Limit-Remaining": "0"}
        http = client(
            server, clock, max_wait=120.0, quota=QuotaHeaders(minute_left="X-Rate-Limit-Remaining")
        )
        http.get("count", "/count")
        http.get("count", "/count")
        assert clock.slept == [60.0]
        assert http.stats.quota_remaining == 0.0

    def test_daily_remaining_header_lowers_our_count(self, server: FakeServer, clock: Time) -> None:
        """Other integrations spend the same credits: the store's figure wins."""
        server.extra_headers = lambda _call: {"X-Left": "3" if len(server.calls) == 1 else "0"}
        http = client(server, clock, daily=1000, quota=QuotaHeaders(daily_left="X-Left"))
        http.get("count", "/count")
        http.get("count", "/count", credits=3)
        with pytest.raises(RateLimited):
            http.get("count", "/count")
        assert len(server.calls) == 2


class TestRetries:
    def test_5xx_is_retried_with_jittered_backoff(self, server: FakeServer, clock: Time) -> None:
        """Two 503s then success: waits 1 s and 2 s scaled by the jitter (0.5)."""
        server.inject(Fault(status=503, times=2))
        assert client(server, clock).get("count", "/count")["count"] == 7
        assert clock.slept == [0.5, 1.0]

    def test_5xx_beyond_the_retries_is_source_unavailable(
        self, server: FakeServer, clock: Time
    ) -> None:
        """Bounded: retries + 1 attempts, then SourceUnavailable."""
        server.inject(Fault(status=502, times=10))
        with pytest.raises(SourceUnavailable):
            client(server, clock, retries=2).get("count", "/count")
        assert len(server.calls) == 3

    def test_retry_after_on_429_is_honoured(self, server: FakeServer, clock: Time) -> None:
        """429 with Retry-After: 7 waits 7 s, then the request succeeds."""
        server.inject(Fault(status=429, headers={"Retry-After": "7"}))
        http = client(server, clock)
        assert http.get("count", "/count")["count"] == 7
        assert clock.slept == [7.0]
        assert http.stats.requests[("count", "429")] == 1
        assert http.stats.requests[("count", "200")] == 1

    def test_long_retry_after_fails_the_poll_and_holds_later_requests(
        self, server: FakeServer, clock: Time
    ) -> None:
        """Retry-After beyond max_wait: RateLimited now, and no request until it passes."""
        server.inject(Fault(status=429, headers={"Retry-After": "600"}))
        http = client(server, clock)
        with pytest.raises(RateLimited) as caught:
            http.get("count", "/count")
        assert caught.value.retry_after == 600
        clock.now += 300
        with pytest.raises(RateLimited):
            http.get("count", "/count")
        assert len(server.calls) == 1
        clock.now += 301
        assert http.get("count", "/count")["count"] == 7

    def test_timeouts_are_retried_then_reported(self, server: FakeServer, clock: Time) -> None:
        """A store that never answers: each attempt times out, then SourceUnavailable."""
        server.inject(Fault(kind="timeout", times=2))
        http = client(server, clock, timeout=0.2, retries=1)
        with pytest.raises(SourceUnavailable, match="timed out"):
            http.get("count", "/count")
        assert http.stats.requests[("count", "timeout")] == 2

    def test_connection_refused_is_source_unavailable(self, clock: Time) -> None:
        """Nothing listening: SourceUnavailable after the retries."""
        with FakeServer(ok) as gone:
            url = gone.url
        http = HttpClient(
            "desk",
            url,
            auth=NoAuth(),
            budget=Budget("desk", None, None, clock),
            timeout=2.0,
            retries=1,
            sleep=clock.sleep,
            rand=lambda: 0.5,
        )
        with pytest.raises(SourceUnavailable, match="cannot connect"):
            http.get("count", "/count")


class TestErrors:
    def test_401_asks_the_auth_to_renew_once(self, server: FakeServer, clock: Time) -> None:
        """A renewable auth gets one more attempt; a second 401 is AuthFailed."""
        renewals = []

        class Renewing(NoAuth):
            def renew(self) -> bool:
                renewals.append(1)
                return True

        server.inject(Fault(status=401, times=2))
        http = client(server, clock)
        http.auth = Renewing()
        with pytest.raises(AuthFailed):
            http.get("count", "/count")
        assert len(renewals) == 1 and len(server.calls) == 2

    def test_403_is_auth_failed_without_retry(self, server: FakeServer, clock: Time) -> None:
        """A missing scope is not retried."""
        server.inject(Fault(status=403))
        with pytest.raises(AuthFailed, match="refused access"):
            client(server, clock).get("count", "/count")
        assert len(server.calls) == 1

    def test_malformed_json_is_a_mapping_error(self, server: FakeServer, clock: Time) -> None:
        """A body that is not JSON is not retried: it would not parse next time either."""
        server.inject(Fault(kind="malformed"))
        with pytest.raises(MappingError, match="not JSON"):
            client(server, clock).get("count", "/count")

    def test_204_is_none(self, clock: Time) -> None:
        """An empty answer (Zoho's empty search) is None, not an error."""
        with FakeServer(lambda _call: Reply(204)) as empty:
            assert client(empty, clock).get("search", "/search") is None

    def test_errors_never_carry_the_credentials(self, server: FakeServer, clock: Time) -> None:
        """The planted token is in no error message, whatever the failure."""
        http = client(server, clock, retries=0)
        messages = []
        for fault in (
            Fault(status=401),
            Fault(status=403),
            Fault(status=429, headers={"Retry-After": "999"}),
            Fault(status=500, body={"echo": "planted-token"}),
            Fault(status=404),
            Fault(kind="malformed"),
        ):
            clock.now += 1000
            server.inject(fault)
            with pytest.raises(Exception) as caught:
                http.get("count", "/count")
            messages.append(str(caught.value))
        assert len(messages) == 6
        assert not [m for m in messages if "planted-token" in m]


class TestRenewal:
    def test_a_renewed_token_is_not_a_retry(self, server: FakeServer, clock: Time) -> None:
        """With no retries at all, an expired token is still renewed and the request sent
        again once: the answer is the store's, not a failure."""
        renewals = []

        class Renewing(NoAuth):
            def renew(self) -> bool:
                renewals.append(1)
                return True

        server.inject(Fault(status=401))
        http = client(server, clock, retries=0)
        http.auth = Renewing()
        assert http.get("count", "/count")["count"] == 7
        assert len(renewals) == 1 and len(server.calls) == 2
