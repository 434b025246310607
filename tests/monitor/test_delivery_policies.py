"""Outbox policies: Standard Webhooks schedule, 410 Gone, circuit breaker, draining, pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from alerting.delivery import STANDARD_WEBHOOKS_SCHEDULE, RetryPolicy, after_failure
from monitor.errors import NotifierError
from monitor.store import notifying as notify_store
from tests.fakes import FakeClock, RecordingReceiver
from tests.monitor.test_daemon import Backlog, outbox_rows, tick
from tests.monitor.test_outbox import FLAPS, build

T = datetime(2026, 1, 1, tzinfo=UTC)


class TestStandardWebhooksSchedule:
    def test_delays_follow_the_schedule_then_give_up(self) -> None:
        """Retries wait 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h (+-20%), then dead-letter."""
        policy = RetryPolicy(schedule=STANDARD_WEBHOOKS_SCHEDULE)
        error = NotifierError("HTTP 503", retryable=True, status=503)
        for attempt, expected in enumerate(STANDARD_WEBHOOKS_SCHEDULE, start=1):
            verdict = after_failure(error, attempt, T, T, policy)
            assert verdict.next_attempt_at is not None
            delay = verdict.next_attempt_at - T
            assert expected * 0.8 <= delay <= expected * 1.2
        assert after_failure(error, len(STANDARD_WEBHOOKS_SCHEDULE) + 1, T, T, policy).dead

    def test_retry_after_is_honoured(self) -> None:
        """A Retry-After longer than the scheduled delay wins."""
        policy = RetryPolicy(schedule=STANDARD_WEBHOOKS_SCHEDULE)
        error = NotifierError("HTTP 429", retryable=True, retry_after=600, status=429)
        verdict = after_failure(error, 1, T, T, policy)
        assert verdict.next_attempt_at == T + timedelta(seconds=600)


class TestReceiverHealth:
    def test_410_disables_the_receiver_and_keeps_its_messages(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """A 410 Gone stops deliveries to that receiver; nothing is dead-lettered."""
        backlog = Backlog(open=100)
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 410
        for value in FLAPS[:2]:
            backlog.open = value
            tick(daemon, clock, timedelta(minutes=3))
        attempts = receiver.attempts
        clock.advance(timedelta(hours=1))
        daemon.deliver()
        assert receiver.attempts == attempts == 1
        assert {r["status"] for r in outbox_rows(store)} == {"pending"}
        with store.connect() as conn:
            health = notify_store.receiver_health(conn)["ops"]
        assert health["disabled_reason"] == "HTTP 410 Gone"

    def test_breaker_opens_after_consecutive_failures(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """After breaker_threshold failures the receiver is not tried until the cooldown ends."""
        backlog = Backlog(open=100)
        daemon = build(
            clock,
            backlog,
            store,
            {"ops": receiver.url},
            delivery="schedule: exponential\n  initial_backoff: 1s\n  max_backoff: 1s\n"
            "  breaker_threshold: 2\n  breaker_cooldown: 10m",
        )
        receiver.status = 503
        backlog.open = 900
        tick(daemon, clock, timedelta(minutes=3))
        clock.advance(timedelta(seconds=5))
        daemon.deliver()
        assert receiver.attempts == 2
        for _ in range(5):
            clock.advance(timedelta(minutes=1))
            daemon.deliver()
        assert receiver.attempts == 2  # breaker open
        receiver.status = 204
        clock.advance(timedelta(minutes=10))
        daemon.deliver()
        assert len(receiver.received) == 1


class TestDraining:
    def test_one_run_delivers_every_due_message(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """A backlog of notifications drains in one delivery run, in order."""
        backlog = Backlog(open=100)
        daemon = build(clock, backlog, store, {"ops": receiver.url})
        receiver.status = 503
        for value in FLAPS:
            backlog.open = value
            clock.advance(timedelta(minutes=3))
            daemon.poll("helpdesk")
            daemon.evaluate()
        receiver.status = 204
        clock.advance(timedelta(hours=1))
        assert daemon.deliver() == len(FLAPS)
        statuses = [r.json["status"] for r in receiver.received]
        assert statuses == ["firing", "resolved", "firing", "resolved"]
