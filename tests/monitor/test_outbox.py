"""Delivery through the outbox to a real HTTP receiver that goes down, refuses, or throttles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from alerting.state import AlertState
from monitor.daemon import Daemon, build_notifiers
from tests.fakes import FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    SOURCE,
    Backlog,
    instance,
    make_daemon,
    make_settings,
    outbox_rows,
    registry_for,
    tick,
    verify,
)

FLAPS = (900, 100, 950, 120)
"""Open counts that make the `for: 0` rule fire, resolve, fire, resolve."""


@pytest.fixture
def other() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver()
    yield server
    server.close()


@pytest.fixture
def backlog() -> Backlog:
    return Backlog(open=100)


def build(
    clock: FakeClock,
    backlog: Backlog,
    store: sa.Engine,
    receivers: dict[str, str],
    delivery: str = "schedule: exponential\n  initial_backoff: 10s\n  max_backoff: 1m",
) -> Daemon:
    settings = make_settings(receivers, for_="0s", delivery=delivery)
    return make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)


def flap(daemon: Daemon, clock: FakeClock, backlog: Backlog) -> None:
    """Four notified transitions, delivering (and failing) after each, through retry backoffs."""
    for value in FLAPS:
        backlog.open = value
        tick(daemon, clock, timedelta(minutes=3))
        for _ in range(3):
            clock.advance(timedelta(seconds=25))
            daemon.deliver()


def drain(daemon: Daemon, clock: FakeClock, rounds: int = 40) -> None:
    """Advance past the longest backoff and deliver, ``rounds`` times."""
    for _ in range(rounds):
        clock.advance(timedelta(seconds=75))
        daemon.deliver()


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    return registry_for(daemon).get_sample_value(name, labels)


class TestReceiverDown:
    def test_nothing_is_lost_and_everything_arrives_once_in_order_when_it_is_back(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
        other: RecordingReceiver,
    ) -> None:
        """503s keep messages pending; once up, each receiver gets each key once, in order."""
        daemon = build(clock, backlog, store, {"ops": receiver.url, "audit": other.url})
        receiver.status = other.status = 503
        flap(daemon, clock, backlog)

        assert receiver.received == [] and other.received == []
        assert receiver.attempts > 1 and other.attempts > 1
        rows = outbox_rows(store)
        assert len(rows) == 2 * len(FLAPS)
        assert {r["status"] for r in rows} == {"pending"}
        assert max(r["attempts"] for r in rows) > 1
        assert sample(daemon, "backlog_outbox_pending", receiver="ops") == len(FLAPS)
        assert sample(daemon, "backlog_outbox_pending", receiver="audit") == len(FLAPS)
        assert sample(
            daemon,
            "backlog_notifications_total",
            receiver="ops",
            outcome="retry",
            reason="http_503",
        ) == sum(r["attempts"] for r in rows if r["receiver"] == "ops")

        receiver.status = other.status = 204
        drain(daemon, clock)

        for name, server in (("ops", receiver), ("audit", other)):
            keys = [r.headers["webhook-id"] for r in server.received]
            expected = [r["idempotency_key"] for r in rows if r["receiver"] == name]
            assert keys == expected  # every message, once, in the order it was written
            bodies = [verify(r) for r in server.received]
            assert [b["status"] for b in bodies] == ["firing", "resolved"] * 2
            assert [b["alerts"][0]["values"]["fired"] for b in bodies] == [900, 900, 950, 950]
            assert sample(daemon, "backlog_outbox_pending", receiver=name) == 0
        assert {r["status"] for r in outbox_rows(store)} == {"delivered"}

        attempts = receiver.attempts + other.attempts
        drain(daemon, clock, rounds=5)
        assert receiver.attempts + other.attempts == attempts  # delivered means never again
        daemon.close()

    def test_a_down_receiver_does_not_hold_up_another(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
        other: RecordingReceiver,
    ) -> None:
        """Messages wait per receiver: the healthy one gets everything meanwhile."""
        daemon = build(clock, backlog, store, {"ops": receiver.url, "audit": other.url})
        receiver.status = 503
        flap(daemon, clock, backlog)
        assert receiver.received == []
        assert [verify(r)["status"] for r in other.received] == ["firing", "resolved"] * 2
        assert sample(daemon, "backlog_outbox_pending", receiver="ops") == len(FLAPS)
        daemon.close()

    def test_redelivery_after_restart_uses_the_same_key_and_body(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A message written before a restart is sent afterwards unchanged, exactly once."""
        first = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 503
        backlog.open = 900
        tick(first, clock)
        [row] = outbox_rows(store)
        first.close()

        receiver.status = 204
        second = build(clock, backlog, store, {"ops": receiver.url})
        drain(second, clock, rounds=3)
        [message] = receiver.received
        assert message.headers["webhook-id"] == row["idempotency_key"]
        assert message.body == row["payload"].encode()
        assert instance(second).state is AlertState.FIRING
        assert len(outbox_rows(store)) == 1
        second.close()

    def test_gives_up_after_give_up_after(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A message still failing after give_up_after is dead-lettered."""
        daemon = build(
            clock,
            backlog,
            store,
            {"ops": receiver.url},
            delivery=(
                "schedule: exponential\n  initial_backoff: 10s\n  max_backoff: 1m\n"
                "  give_up_after: 10m"
            ),
        )
        receiver.status = 503
        backlog.open = 900
        tick(daemon, clock)
        drain(daemon, clock, rounds=12)
        [row] = outbox_rows(store)
        assert row["status"] == "dead"
        assert row["last_error"].startswith("gave up after")
        assert sample(daemon, "backlog_outbox_dead", receiver="ops") == 1
        assert sample(daemon, "backlog_outbox_pending", receiver="ops") == 0
        daemon.close()


class TestFinalAndThrottled:
    def test_4xx_is_final_and_dead_lettered(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A 400 is not retried: the message is dead and the next one goes out."""
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 400
        backlog.open = 900
        tick(daemon, clock)
        assert receiver.attempts == 1
        [row] = outbox_rows(store)
        assert row["status"] == "dead"
        assert row["last_error"] == "final: HTTP 400"
        assert sample(daemon, "backlog_outbox_dead", receiver="ops") == 1
        assert (
            sample(
                daemon,
                "backlog_notifications_total",
                receiver="ops",
                outcome="dead",
                reason="http_400",
            )
            == 1
        )

        receiver.status = 204
        drain(daemon, clock, rounds=3)
        assert receiver.attempts == 1  # dead letters are never retried

        backlog.open = 100
        tick(daemon, clock)
        assert [verify(r)["status"] for r in receiver.received] == ["resolved"]
        assert sample(daemon, "backlog_outbox_dead", receiver="ops") == 1
        daemon.close()

    def test_429_is_retried_no_earlier_than_retry_after(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """Retry-After: 120 postpones the next attempt by 120s although the backoff is 10s."""
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 429
        receiver.headers = {"Retry-After": "120"}
        backlog.open = 900
        tick(daemon, clock)
        throttled_at = clock.now
        assert receiver.attempts == 1
        [row] = outbox_rows(store)
        assert row["status"] == "pending"
        assert row["next_attempt_at"] == throttled_at + timedelta(seconds=120)

        receiver.status, receiver.headers = 204, {}
        for _ in range(11):
            clock.advance(timedelta(seconds=10))
            daemon.deliver()
        clock.advance(timedelta(seconds=9))
        assert clock.now == throttled_at + timedelta(seconds=119)
        daemon.deliver()
        assert receiver.attempts == 1

        clock.advance(timedelta(seconds=1))
        assert daemon.deliver() == 1
        assert receiver.attempts == 2
        assert verify(receiver.received[0])["status"] == "firing"
        daemon.close()

    def test_network_error_is_retried(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A refused connection counts as a retryable network failure."""
        closed = RecordingReceiver()
        url = closed.url
        closed.close()
        daemon = build(clock, backlog, store, {"ops": url})
        backlog.open = 900
        tick(daemon, clock)
        [row] = outbox_rows(store)
        assert row["status"] == "pending"
        assert row["attempts"] == 1
        assert row["last_error"] == "ConnectionError"
        assert (
            sample(
                daemon,
                "backlog_notifications_total",
                receiver="ops",
                outcome="retry",
                reason="network",
            )
            == 1
        )
        daemon.close()


class BrokenNotifier:
    """A notifier with a bug: every send raises something that is not a NotifierError."""

    kind = "broken"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return "ops"

    def send(self, key: str, event: str, body: bytes, now: object) -> None:
        self.calls += 1
        raise KeyError("a bug in the notifier")


class TestNotifierBug:
    def test_a_failing_notifier_does_not_block_the_other_receivers(
        self,
        clock: FakeClock,
        backlog: Backlog,
        store: sa.Engine,
        receiver: RecordingReceiver,
        other: RecordingReceiver,
    ) -> None:
        """An unexpected error in one notifier is retried later; the others still deliver."""
        settings = make_settings({"ops": receiver.url, "audit": other.url}, for_="0s")
        broken = BrokenNotifier()
        daemon = Daemon(
            settings,
            clock=clock,
            collectors={SOURCE: ScriptedCollector(SOURCE, backlog)},
            notifiers={**build_notifiers(settings), "ops": broken},
            engine=store,
            speedup=1e9,
        )
        daemon.migrate()
        backlog.open = 900
        tick(daemon, clock)
        assert broken.calls == 1
        assert [verify(r)["status"] for r in other.received] == ["firing"]
        rows = {r["receiver"]: r for r in outbox_rows(store)}
        assert rows["ops"]["status"] == "pending"
        assert rows["ops"]["attempts"] == 1
        assert (
            sample(
                daemon,
                "backlog_notifications_total",
                receiver="ops",
                outcome="retry",
                reason="internal",
            )
            == 1
        )
        drain(daemon, clock, rounds=2)
        assert broken.calls == 3
        daemon.close()
