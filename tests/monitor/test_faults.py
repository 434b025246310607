"""Faults injected under one daemon, driven by a fake clock: a ticket store down for an
hour, a receiver down for an hour or slow, a full SQLite disk, the clock jumping."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from alerting.state import AlertState
from config.loader import load_settings
from monitor.daemon import Daemon, max_gap
from monitor.demo.ticketstore import load_incidents
from monitor.errors import SourceUnavailable, StoreError
from monitor.scheduler import daemon_jobs, survive_store_errors
from monitor.store.schema import alert_instances, queue_counters
from tests.fakes import T0, FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    POLL,
    RULE,
    SOURCE,
    Backlog,
    config_yaml,
    make_daemon,
    make_settings,
    outbox_rows,
    tick,
    verify,
)
from tests.processes import eventually

HOUR = 60
"""Ticks of one simulated minute in an hour."""


def real_arrivals() -> list[Any]:
    """When real ServiceNow incidents were opened around T0 (as UTC instants)."""
    opened = [i.opened_at.replace(tzinfo=UTC) for i in load_incidents()]
    return sorted(t for t in opened if T0 - timedelta(hours=2) <= t < T0 + timedelta(hours=3))


def states(daemon: Daemon) -> dict[str, AlertState]:
    with daemon.engine.connect() as conn:
        rows = conn.execute(sa.select(alert_instances.c.rule, alert_instances.c.state))
        return {r.rule: AlertState(r.state) for r in rows}


def bodies(receiver: RecordingReceiver) -> list[tuple[str, str]]:
    """(alertname, status) of each notification received."""
    out = []
    for message in receiver.received:
        body = verify(message)
        out.append((body["alerts"][0]["labels"]["alertname"], body["status"]))
    return out


class TestTicketStoreDownForAnHour:
    def test_collector_down_fires_nothing_resolves_and_the_window_catches_up(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """An hour of failed polls: CollectorDown fires, BacklogHigh stays firing; the first
        poll after counts the whole hour, so every real arrival is counted once."""
        arrivals = real_arrivals()
        backlog = Backlog(open=600, created_at=arrivals)
        collector = ScriptedCollector(SOURCE, backlog)
        daemon = make_daemon(
            make_settings({"ops": receiver.url}, for_="0s"), clock, collector, store
        )
        tick(daemon, clock)
        assert bodies(receiver) == [(RULE, "firing")]
        last_good = collector.windows[-1].end

        collector.error = SourceUnavailable("helpdesk: connection refused")
        backlog.open = 100  # what the store would say, could it be asked
        for _ in range(HOUR):
            tick(daemon, clock)
        assert states(daemon) == {RULE: AlertState.FIRING, "CollectorDown": AlertState.FIRING}
        assert bodies(receiver) == [(RULE, "firing"), ("CollectorDown", "firing")]

        collector.error = None
        tick(daemon, clock)
        assert collector.windows[-1].start == last_good  # no gap, no overlap
        assert bodies(receiver)[2:] == [(RULE, "resolved"), ("CollectorDown", "resolved")]
        with store.connect() as conn:
            created = conn.execute(sa.select(queue_counters.c.created_total)).scalar_one()
        first = collector.windows[0].start
        assert created == sum(first <= t < clock.now for t in arrivals) > 0
        daemon.close()


class TestReceiverDownForAnHour:
    def test_everything_waits_then_arrives_once_in_order(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """503 for an hour through fire, resolve, fire: retried, then sent once each, in order."""
        backlog = Backlog(open=600)
        daemon = make_daemon(
            make_settings({"ops": receiver.url}, for_="0s"),
            clock,
            ScriptedCollector(SOURCE, backlog),
            store,
        )
        receiver.status = 503
        for minute in range(HOUR):
            backlog.open = 100 if 20 <= minute < 40 else 600
            tick(daemon, clock)
        rows = outbox_rows(store)
        assert [r["status"] for r in rows] == ["pending"] * 3
        assert receiver.received == [] and receiver.attempts > 3
        receiver.status = 204
        for _ in range(5):
            tick(daemon, clock)
        keys = [r.headers["webhook-id"] for r in receiver.received]
        assert keys == [r["idempotency_key"] for r in rows]
        assert [s for _, s in bodies(receiver)] == ["firing", "resolved", "firing"]
        daemon.close()


class TestSlowReceiver:
    def test_a_timeout_is_retried_and_order_is_kept(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """A receiver slower than the timeout: the attempt fails, the next message waits,
        both arrive in order afterwards (the late one also reaches it: same key)."""
        text = config_yaml({"ops": receiver.url}, for_="0s").replace("timeout: 5s", "timeout: 1s")
        backlog = Backlog(open=600)
        daemon = make_daemon(
            load_settings(text=text), clock, ScriptedCollector(SOURCE, backlog), store
        )
        gate = threading.Event()
        receiver.hold = gate
        tick(daemon, clock)  # fires; the request times out after 1 s
        backlog.open = 100
        clock.advance(POLL)
        daemon.poll(SOURCE)
        daemon.evaluate()  # resolves: its message waits behind the first
        rows = outbox_rows(store)
        assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1), ("pending", 0)]
        assert rows[0]["last_error"] == "ReadTimeout"
        receiver.hold = None
        gate.set()
        eventually(lambda: len(receiver.received) == 1, "the late request to be processed")
        for _ in range(3):
            tick(daemon, clock)
        keys = [r.headers["webhook-id"] for r in receiver.received]
        assert keys == [rows[0]["idempotency_key"]] * 2 + [rows[1]["idempotency_key"]]
        assert [r["status"] for r in outbox_rows(store)] == ["delivered"] * 2
        daemon.close()


class TestFullDisk:
    def test_a_full_sqlite_store_is_a_clear_error_and_nothing_is_corrupted(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver, caplog: Any
    ) -> None:
        """With no page left, polls and the evaluation fail saying so, change nothing;
        with room again, the resolution and its notification are written once."""
        backlog = Backlog(open=600)
        receivers = {f"ops{n}": receiver.url for n in range(10)}  # ten messages per change
        daemon = make_daemon(
            make_settings(receivers, for_="0s"), clock, ScriptedCollector(SOURCE, backlog), store
        )
        tick(daemon, clock)
        assert bodies(receiver) == [(RULE, "firing")] * 10

        def no_room(dbapi_connection: Any, _record: Any) -> None:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        event.listen(store, "connect", no_room)
        store.dispose()
        backlog.open = 100
        polled = 0
        while polled < 200:  # until the file cannot grow (polls fit in free pages)
            clock.advance(POLL)
            if not daemon.poll(SOURCE):
                break
            polled += 1
        # Filled up; and the store holds the fall to 100 that the evaluation reads.
        assert 0 < polled < 200
        assert "cannot store the poll of helpdesk" in caplog.text
        assert "database or disk is full" in caplog.text
        with pytest.raises(StoreError, match="database or disk is full"):
            daemon.evaluate()
        assert states(daemon)[RULE] is AlertState.FIRING
        assert len(outbox_rows(store)) == 10

        event.remove(store, "connect", no_room)
        store.dispose()
        path = store.url.database
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tick(daemon, clock)
        assert states(daemon)[RULE] is AlertState.RESOLVED
        assert bodies(receiver) == [(RULE, "firing")] * 10 + [(RULE, "resolved")] * 10
        daemon.close()


class TestClockJumps:
    def settings_daemon(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> tuple[Daemon, Backlog]:
        settings = make_settings({"ops": receiver.url}, for_="1h")
        backlog = Backlog(open=600)
        daemon = Daemon(
            settings,
            clock=clock,
            collectors={SOURCE: ScriptedCollector(SOURCE, backlog)},
            engine=store,
            speedup=1e9,
            max_gap=max_gap(settings),  # as `backlog-monitor run` does
        )
        daemon.migrate()
        return daemon, backlog

    def minutes_until_firing(self, daemon: Daemon, clock: FakeClock) -> int:
        for minute in range(1, 3 * HOUR):
            tick(daemon, clock)
            if states(daemon)[RULE] is AlertState.FIRING:
                return minute
        pytest.fail("never fired")

    def test_forward_jump_does_not_fire_what_was_pending(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """Pending, then the clock jumps 3 h: still pending; `for: 1h` completes 45 evaluated
        minutes later (15 m of the jump count)."""
        daemon, _ = self.settings_daemon(clock, store, receiver)
        tick(daemon, clock)
        assert states(daemon)[RULE] is AlertState.PENDING
        tick(daemon, clock, timedelta(hours=3))
        assert states(daemon)[RULE] is AlertState.PENDING
        assert receiver.received == []
        assert self.minutes_until_firing(daemon, clock) == 45
        assert bodies(receiver) == [(RULE, "firing")]
        daemon.close()

    def test_backward_jump_keeps_the_time_held(
        self, clock: FakeClock, store: sa.Engine, receiver: RecordingReceiver
    ) -> None:
        """Pending for 30 m, the clock goes back 2 h: it fires 30 m later, not 2 h 30 m, and
        nothing is counted twice."""
        daemon, backlog = self.settings_daemon(clock, store, receiver)
        backlog.created_at = [T0 + timedelta(minutes=m) for m in range(0, 40, 3)]
        tick(daemon, clock)
        for _ in range(30):
            tick(daemon, clock)
        with store.connect() as conn:
            before = conn.execute(sa.select(queue_counters.c.created_total)).scalar_one()
        tick(daemon, clock, timedelta(hours=-2))
        assert states(daemon)[RULE] is AlertState.PENDING
        assert self.minutes_until_firing(daemon, clock) == 30
        with store.connect() as conn:
            after = conn.execute(sa.select(queue_counters.c.created_total)).scalar_one()
        assert after == before  # the replayed hours are not counted again
        assert Counter(bodies(receiver)) == Counter({(RULE, "firing"): 1})
        daemon.close()


class TestStoreUnreachable:
    def test_each_scheduled_job_logs_one_line_and_runs_again(
        self, tmp_path: Path, receiver: RecordingReceiver, caplog: Any
    ) -> None:
        """A store that cannot be opened: every job the scheduler runs fails with one
        warning naming it and the store's error, and raises nothing (it runs again)."""
        settings = make_settings({"ops": receiver.url})
        unreachable = sa.create_engine(f"sqlite:///{tmp_path}/missing-folder/history.db")
        daemon = Daemon(settings, collectors={}, engine=unreachable)
        jobs = [j for j in daemon_jobs(daemon) if not j.id.startswith("poll:")]
        assert {j.id for j in jobs} >= {"evaluate", "deliver", "maintain"}
        for job in jobs:
            assert survive_store_errors(job)() is None
        warnings = [r for r in caplog.records if r.getMessage().startswith("job ")]
        assert [r.getMessage().split(" failed")[0] for r in warnings] == [
            f"job {j.id}" for j in jobs
        ]
        assert all("unable to open database file" in r.getMessage() for r in warnings)
        assert all(r.exc_info is None for r in warnings)
        unreachable.dispose()
