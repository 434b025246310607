"""The daemon's jobs driven by hand: a fake clock, a scripted ticket store, a real receiver.

The helpers at the top (``Backlog``, ``make_settings``, ``make_daemon``...) are shared
by the other daemon-level test modules of this package.
"""

from __future__ import annotations

import base64
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from standardwebhooks.webhooks import Webhook

from alerting.state import AlertInstance, AlertState
from collectors.base import AGE_BUCKETS, TOTAL_QUEUE, FigureState, QueueStats, Snapshot, Window
from config.loader import load_settings
from config.settings import Settings
from monitor.daemon import Daemon
from monitor.errors import SourceUnavailable
from monitor.http import build_app, daemon_registry
from monitor.store import alerts as alert_store
from monitor.store import history
from monitor.store.schema import outbox
from tests.fakes import T0, FakeClock, RecordingReceiver, ScriptedCollector

with warnings.catch_warnings():
    # Starlette >= 1.x asks for httpx2 but still works with httpx, which is what is installed.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

SOURCE = "helpdesk"
QUEUE = "Group 70"
RULE = "BacklogHigh"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
POLL = timedelta(minutes=1)
API_TOKEN = "test-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
"""Headers that pass the token gate of the HTTP app built from :func:`config_yaml`."""


# -- shared helpers ------------------------------------------------------------------------


@dataclass
class Backlog:
    """The scripted ticket store: the open count now, and when tickets came and went."""

    open: int = 0
    created_at: list[datetime] = field(default_factory=list)
    resolved_at: list[datetime] = field(default_factory=list)
    breakdown: dict[tuple[str, str], int] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    """Further QueueStats figures (SLA, quantiles...), as a help-desk preset gives them."""
    total: bool = False
    """Also report the source's total (the one queue's figures, as the SQL collector does)."""
    figures: tuple[FigureState, ...] = ()
    """The optional figures' states to report."""

    def __call__(self, window: Window) -> Snapshot:
        by_status = self.breakdown if self.breakdown is not None else {("open", "P2"): self.open}
        stats = QueueStats(
            queue=QUEUE,
            open_by_status_priority={k: n for k, n in by_status.items() if n},
            created=sum(window.start <= t < window.end for t in self.created_at),
            resolved=sum(window.start <= t < window.end for t in self.resolved_at),
            oldest_age_s=3600.0 if self.open else None,
            older_than={name: 0 for name, _ in AGE_BUCKETS},
            **self.extras,
        )
        total = replace(stats, queue=TOTAL_QUEUE) if self.total else None
        return Snapshot(
            source=SOURCE, window=window, queues=(stats,), total=total, figures=self.figures
        )


def config_yaml(
    receivers: dict[str, str],
    *,
    for_: str = "10m",
    threshold: int = 500,
    delivery: str = "schedule: exponential\n  initial_backoff: 10s\n  max_backoff: 1m",
) -> str:
    """A configuration with one SQL source (scripted in tests), one rule, webhook receivers."""
    hooks = "".join(
        f"  - kind: webhook\n    name: {name}\n    url: {url!r}\n    secret: {SECRET!r}\n"
        "    timeout: 5s\n"
        for name, url in receivers.items()
    )
    return f"""
http:
  listen: "127.0.0.1:9464"
  external_url: "http://monitor.example:9464"
  api_tokens: ["{API_TOKEN}"]
delivery:
  {delivery}
  allowed_destinations: ["127.0.0.1"]
sources:
  - kind: sql
    name: {SOURCE}
    url: "sqlite://"
    interval: 1m
    first_window: 1h
    mapping:
      table: tickets
      queue: queue
      status: status
      priority: priority
      created_at: created_at
      resolved_at: resolved_at
      open_statuses: [open]
rules:
  - name: {RULE}
    metric: open_tickets
    op: ">"
    threshold: {threshold}
    for: {for_}
    severity: critical
    annotations:
      summary: "{{queue}} has {{value}} open tickets (fired at {{fire_value}})"
receivers:
{hooks}"""


def make_settings(receivers: dict[str, str], **kwargs: Any) -> Settings:
    return load_settings(text=config_yaml(receivers, **kwargs))


def make_daemon(
    settings: Settings, clock: FakeClock, collector: ScriptedCollector, store: sa.Engine
) -> Daemon:
    """A migrated daemon whose source backoff never blocks (huge speedup)."""
    daemon = Daemon(
        settings, clock=clock, collectors={SOURCE: collector}, engine=store, speedup=1e9
    )
    daemon.migrate()
    return daemon


def tick(daemon: Daemon, clock: FakeClock, step: timedelta = POLL) -> int:
    """Advance the clock, then poll, evaluate and deliver once; returns messages delivered."""
    clock.advance(step)
    daemon.poll(SOURCE)
    daemon.evaluate()
    return daemon.deliver()


def instance(daemon: Daemon) -> AlertInstance:
    """The only instance of the configured rule in the store (CollectorDown aside)."""
    with daemon.engine.connect() as conn:
        instances = [
            i for i in alert_store.load_instances(conn).values() if i.rule != "CollectorDown"
        ]
    assert len(instances) == 1, instances
    return instances[0]


def outbox_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings()]


def registry_for(daemon: Daemon) -> CollectorRegistry:
    return daemon_registry(daemon)


def verify(received: Any) -> dict[str, Any]:
    """The JSON body, after checking the Standard Webhooks signature with the reference library."""
    payload: dict[str, Any] = Webhook(SECRET).verify(received.body, received.headers)
    return payload


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def backlog() -> Backlog:
    return Backlog(open=100)


@pytest.fixture
def collector(backlog: Backlog) -> ScriptedCollector:
    return ScriptedCollector(SOURCE, backlog)


@pytest.fixture
def daemon(
    clock: FakeClock,
    collector: ScriptedCollector,
    store: sa.Engine,
    receiver: RecordingReceiver,
) -> Iterator[Daemon]:
    d = make_daemon(make_settings({"ops": receiver.url}), clock, collector, store)
    yield d
    d.close()


# -- tests ----------------------------------------------------------------------------------


class TestEndToEnd:
    def test_rise_fires_and_fall_resolves_with_signed_webhooks(
        self, daemon: Daemon, clock: FakeClock, backlog: Backlog, receiver: RecordingReceiver
    ) -> None:
        """Backlog above the limit for 10m fires one signed webhook; the fall resolves it."""
        tick(daemon, clock)
        assert outbox_rows(daemon.engine) == []

        backlog.open = 600
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.PENDING
        pending_at = clock.now

        for _ in range(9):
            backlog.open += 10
            tick(daemon, clock)
            assert instance(daemon).state is AlertState.PENDING
        assert receiver.received == []

        backlog.open = 700
        tick(daemon, clock)
        fired = instance(daemon)
        assert fired.state is AlertState.FIRING
        assert fired.fired_at == clock.now == pending_at + timedelta(minutes=10)
        assert fired.fire_value == 700
        assert len(receiver.received) == 1

        message = receiver.received[0]
        body = verify(message)
        assert message.headers["webhook-id"] == body["idempotencyKey"]
        assert message.headers["Idempotency-Key"] == body["idempotencyKey"]
        assert message.headers["X-Backlog-Event"] == "alert.firing"
        assert body["status"] == "firing"
        assert body["receiver"] == "ops"
        assert body["externalURL"] == "http://monitor.example:9464"
        [alert] = body["alerts"]
        assert alert["labels"] == {
            "alertname": RULE,
            "source": SOURCE,
            "queue": QUEUE,
            "severity": "critical",
        }
        assert alert["startsAt"] == "2016-03-21T12:12:00Z"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert alert["values"] == {"fired": 700.0, "current": 700.0}
        assert alert["annotations"]["summary"] == f"{QUEUE} has 700 open tickets (fired at 700)"

        backlog.open = 800  # still firing: no new notification
        tick(daemon, clock)
        assert len(receiver.received) == 1

        backlog.open = 250
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.RESOLVED
        assert len(receiver.received) == 2
        resolved = receiver.received[1]
        body = verify(resolved)
        assert resolved.headers["webhook-id"] == body["idempotencyKey"]
        assert resolved.headers["X-Backlog-Event"] == "alert.resolved"
        assert body["status"] == "resolved"
        [alert] = body["alerts"]
        assert alert["values"] == {"fired": 700.0, "current": 250.0}
        assert alert["startsAt"] == "2016-03-21T12:12:00Z"
        assert alert["endsAt"] == "2016-03-21T12:14:00Z"
        assert body["idempotencyKey"] != receiver.received[0].headers["webhook-id"]

        assert [r["status"] for r in outbox_rows(daemon.engine)] == ["delivered", "delivered"]

    def test_signature_timestamp_is_the_wall_clock(
        self, daemon: Daemon, clock: FakeClock, backlog: Backlog, receiver: RecordingReceiver
    ) -> None:
        """webhook-timestamp is real time even when the daemon's clock is simulated (2016)."""
        backlog.open = 900
        tick(daemon, clock)
        before = datetime.now(UTC).replace(microsecond=0)  # the header has whole seconds
        tick(daemon, clock, timedelta(minutes=10))
        after = datetime.now(UTC)
        [message] = receiver.received
        stamp = datetime.fromtimestamp(int(message.headers["webhook-timestamp"]), UTC)
        assert before <= stamp <= after  # however long the send took
        verify(message)

    def test_short_blip_is_cancelled_without_notification(
        self, daemon: Daemon, clock: FakeClock, backlog: Backlog, receiver: RecordingReceiver
    ) -> None:
        """A breach shorter than `for` goes pending, back to inactive, and notifies nobody."""
        backlog.open = 600
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.PENDING
        backlog.open = 400
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.INACTIVE
        tick(daemon, clock, timedelta(minutes=30))
        assert receiver.received == []
        assert outbox_rows(daemon.engine) == []


class TestWatermark:
    def test_consecutive_windows_neither_overlap_nor_leave_gaps(
        self, daemon: Daemon, clock: FakeClock, collector: ScriptedCollector
    ) -> None:
        """The first window reaches back first_window; each next one starts where the last ended."""
        for _ in range(4):
            clock.advance(timedelta(seconds=61))
            assert daemon.poll(SOURCE)
        windows = collector.windows
        first_poll = T0 + timedelta(seconds=61)
        assert windows[0] == Window(first_poll - timedelta(hours=1), first_poll)
        for before, after in itertools.pairwise(windows):
            assert after.start == before.end
        assert windows[-1].end == clock.now

    def test_restart_resumes_at_the_persisted_watermark(
        self,
        clock: FakeClock,
        backlog: Backlog,
        collector: ScriptedCollector,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A new daemon on the same store continues the windows and counts each ticket once."""
        backlog.created_at = [
            T0 - timedelta(minutes=90) + timedelta(seconds=37 * k) for k in range(400)
        ]
        backlog.resolved_at = backlog.created_at[::3]
        settings = make_settings({"ops": receiver.url})

        first = make_daemon(settings, clock, collector, store)
        for _ in range(3):
            clock.advance(POLL)
            first.poll(SOURCE)
        watermark = clock.now
        first.close()

        clock.advance(timedelta(minutes=7))  # down for a while
        second_collector = ScriptedCollector(SOURCE, backlog)
        second = make_daemon(settings, clock, second_collector, store)
        second.poll(SOURCE)
        assert second_collector.windows == [Window(watermark, clock.now)]
        for _ in range(2):
            clock.advance(POLL)
            second.poll(SOURCE)

        start = collector.windows[0].start
        expected_created = sum(start <= t < clock.now for t in backlog.created_at)
        expected_resolved = sum(start <= t < clock.now for t in backlog.resolved_at)
        registry = registry_for(second)
        labels = {"source": SOURCE, "queue": QUEUE}
        assert registry.get_sample_value("backlog_tickets_created_total", labels) == (
            expected_created
        )
        assert registry.get_sample_value("backlog_tickets_resolved_total", labels) == (
            expected_resolved
        )
        assert expected_created > 0
        second.close()

    def test_failed_polls_keep_the_watermark_and_the_next_window_covers_the_outage(
        self, daemon: Daemon, clock: FakeClock, collector: ScriptedCollector
    ) -> None:
        """Polls that fail do not move the watermark; the recovery poll counts the whole gap."""
        clock.advance(POLL)
        daemon.poll(SOURCE)
        last_ok = clock.now
        collector.error = SourceUnavailable("helpdesk: connection refused")
        for _ in range(3):
            clock.advance(POLL)
            assert not daemon.poll(SOURCE)
        collector.error = None
        clock.advance(POLL)
        assert daemon.poll(SOURCE)
        assert collector.windows[-1] == Window(last_ok, clock.now)

    def test_clock_going_back_counts_no_ticket_twice(
        self, daemon: Daemon, clock: FakeClock, backlog: Backlog, store: sa.Engine
    ) -> None:
        """After the clock steps back and forward again, each ticket is counted exactly once."""
        backlog.created_at = [T0 + timedelta(seconds=20 * k) for k in range(200)]
        clock.advance(timedelta(minutes=10))
        daemon.poll(SOURCE)
        clock.advance(timedelta(minutes=-5))  # NTP step backwards
        daemon.poll(SOURCE)
        clock.advance(timedelta(minutes=5))
        daemon.poll(SOURCE)
        clock.advance(timedelta(minutes=5))
        daemon.poll(SOURCE)
        with store.connect() as conn:
            [row] = history.counters(conn)
            watermark = history.source_health(conn)[SOURCE].watermark
        assert watermark == clock.now
        assert row["created_total"] == sum(t < clock.now for t in backlog.created_at)


class TestCollectorFailure:
    def test_firing_alert_holds_while_the_source_is_down_and_resolves_after(
        self,
        daemon: Daemon,
        clock: FakeClock,
        backlog: Backlog,
        collector: ScriptedCollector,
        receiver: RecordingReceiver,
    ) -> None:
        """A down source is up=0 with errors counted, never zero: the alert keeps firing."""
        backlog.open = 900
        tick(daemon, clock)
        tick(daemon, clock, timedelta(minutes=10))
        fired = instance(daemon)
        assert fired.state is AlertState.FIRING
        assert len(receiver.received) == 1

        collector.error = SourceUnavailable("helpdesk: connection refused")
        registry = registry_for(daemon)
        for n in range(1, 31):
            tick(daemon, clock)
            assert instance(daemon).state is AlertState.FIRING
            assert registry.get_sample_value("backlog_collector_up", {"source": SOURCE}) == 0
            assert (
                registry.get_sample_value(
                    "backlog_collector_errors_total", {"source": SOURCE, "reason": "unavailable"}
                )
                == n
            )
        held = instance(daemon)
        assert "source down (unavailable)" in held.state_reason
        assert held.fired_at == fired.fired_at
        names = [r.json["commonLabels"]["alertname"] for r in receiver.received]
        assert names == ["BacklogHigh", "CollectorDown"]  # the outage alerts on its own

        collector.error = None
        backlog.open = 120
        tick(daemon, clock)
        assert registry.get_sample_value("backlog_collector_up", {"source": SOURCE}) == 1
        resolved = instance(daemon)
        assert resolved.state is AlertState.RESOLVED
        assert resolved.fire_value == 900
        assert resolved.last_value == 120
        daemon.deliver()
        by_name = {
            (r.json["commonLabels"]["alertname"], r.json["status"]): r for r in receiver.received
        }
        assert sorted(by_name) == [
            ("BacklogHigh", "firing"),
            ("BacklogHigh", "resolved"),
            ("CollectorDown", "firing"),
            ("CollectorDown", "resolved"),
        ]
        [alert] = verify(by_name[("BacklogHigh", "resolved")])["alerts"]
        assert alert["status"] == "resolved"
        assert alert["values"] == {"fired": 900.0, "current": 120.0}

    def test_pending_alert_does_not_fire_or_cancel_while_the_source_is_down(
        self,
        daemon: Daemon,
        clock: FakeClock,
        backlog: Backlog,
        collector: ScriptedCollector,
    ) -> None:
        """An outage neither completes nor resets `for`; the first good poll decides."""
        backlog.open = 700
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.PENDING
        collector.error = SourceUnavailable("helpdesk: timeout")
        for _ in range(15):
            tick(daemon, clock)
            assert instance(daemon).state is AlertState.PENDING
        collector.error = None
        tick(daemon, clock)
        assert instance(daemon).state is AlertState.FIRING

    def test_readyz_explains_a_source_not_yet_polled(
        self,
        clock: FakeClock,
        collector: ScriptedCollector,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """/readyz is 503 with reasons until migration and a first successful poll, then 200."""
        settings = make_settings({"ops": receiver.url})
        daemon = Daemon(
            settings, clock=clock, collectors={SOURCE: collector}, engine=store, speedup=1e9
        )
        with TestClient(build_app(daemon, registry_for(daemon)), headers=AUTH) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json() == {
                "ready": False,
                "reasons": [
                    "the history store is not migrated yet",
                    f"source {SOURCE!r} has not been polled successfully yet",
                ],
                "role": "leader",
            }
            daemon.migrate()
            collector.error = SourceUnavailable("helpdesk: connection refused")
            clock.advance(POLL)
            daemon.poll(SOURCE)
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["reasons"] == [
                f"source {SOURCE!r} has not been polled successfully yet"
            ]
            collector.error = None
            clock.advance(POLL)
            daemon.poll(SOURCE)
            response = client.get("/readyz")
            assert response.status_code == 200
            assert response.json() == {"ready": True, "reasons": [], "role": "leader"}
        daemon.close()


class TestStateRestore:
    def test_pending_alert_survives_a_restart_and_fires_on_time(
        self,
        clock: FakeClock,
        backlog: Backlog,
        collector: ScriptedCollector,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """`for: 2h` counts from the original breach across a restart, not from the restart."""
        settings = make_settings({"ops": receiver.url}, for_="2h")
        backlog.open = 650
        first = make_daemon(settings, clock, collector, store)
        tick(first, clock)
        breach = clock.now
        assert instance(first).state is AlertState.PENDING
        for _ in range(6):
            tick(first, clock, timedelta(minutes=10))
        first.close()

        second = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        restored = instance(second)
        assert restored.state is AlertState.PENDING
        assert restored.active_since == breach
        while clock.now + timedelta(minutes=10) < breach + timedelta(hours=2):
            tick(second, clock, timedelta(minutes=10))
            assert instance(second).state is AlertState.PENDING
        tick(second, clock, breach + timedelta(hours=2) - clock.now)
        fired = instance(second)
        assert fired.state is AlertState.FIRING
        assert fired.fired_at == breach + timedelta(hours=2)
        assert [verify(r)["status"] for r in receiver.received] == ["firing"]
        second.close()

    def test_firing_alert_resolves_after_restart_with_the_original_fire_value(
        self,
        clock: FakeClock,
        backlog: Backlog,
        collector: ScriptedCollector,
        store: sa.Engine,
        receiver: RecordingReceiver,
    ) -> None:
        """A restart neither re-notifies a firing alert nor forgets the value that fired it."""
        settings = make_settings({"ops": receiver.url}, for_="0s")
        backlog.open = 777
        first = make_daemon(settings, clock, collector, store)
        tick(first, clock)
        fired = instance(first)
        assert fired.state is AlertState.FIRING
        first.close()

        backlog.open = 900
        second = make_daemon(settings, clock, ScriptedCollector(SOURCE, backlog), store)
        tick(second, clock)
        assert instance(second).state is AlertState.FIRING
        assert instance(second).fired_at == fired.fired_at
        backlog.open = 10
        tick(second, clock)
        resolved = instance(second)
        assert resolved.state is AlertState.RESOLVED
        assert resolved.fire_value == 777
        bodies = [verify(r) for r in receiver.received]
        assert [b["status"] for b in bodies] == ["firing", "resolved"]
        assert bodies[1]["alerts"][0]["values"] == {"fired": 777.0, "current": 10.0}
        assert bodies[1]["alerts"][0]["startsAt"] == bodies[0]["alerts"][0]["startsAt"]
        second.close()


class TestMaintenance:
    def test_maintain_rolls_up_and_prunes_old_raw_rows(
        self, daemon: Daemon, clock: FakeClock, backlog: Backlog, store: sa.Engine
    ) -> None:
        """Raw rows older than raw_retention go; their hourly rollups stay."""
        for minutes in range(0, 180, 15):
            backlog.open = 100 + minutes
            clock.advance(timedelta(minutes=14))
            daemon.poll(SOURCE)
            clock.advance(timedelta(minutes=1))
            daemon.maintain()
        clock.advance(timedelta(hours=48))
        removed = daemon.maintain()
        assert removed == 12
        with store.connect() as conn:
            assert history.series(conn, T0 - timedelta(days=9), clock.now) == {}
            rolled = history.rollup_series(conn, T0 - timedelta(days=9), clock.now)
        hours = rolled[(SOURCE, QUEUE)]
        assert sum(h["samples"] for h in hours) == 12
        assert max(h["open_max"] for h in hours) == 100 + 165
