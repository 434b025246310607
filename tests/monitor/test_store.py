"""The history store on every supported backend: migrations, history, alert state, outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerting.notifications import Notification
from alerting.state import AlertInstance, AlertState
from collectors.base import QueueStats, Snapshot, Window
from monitor.errors import StoreError
from monitor.store import alerts as alert_store
from monitor.store import history
from monitor.store import outbox as outbox_store
from monitor.store.engine import current_revision, head_revision, migrate, open_store
from monitor.store.schema import metadata, snapshots
from tests.fakes import T0


def snap(
    source: str,
    start: datetime,
    end: datetime,
    *queues: QueueStats,
) -> Snapshot:
    return Snapshot(source=source, window=Window(start, end), queues=tuple(queues))


def stats(queue: str, open_: int = 0, created: int = 0, resolved: int = 0) -> QueueStats:
    return QueueStats(
        queue=queue,
        open_by_status_priority={("open", "P1"): open_} if open_ else {},
        created=created,
        resolved=resolved,
        oldest_age_s=60.0 if open_ else None,
        older_than={"7d": 0, "14d": 0, "30d": 0},
    )


def note(receiver: str, key: str) -> Notification:
    return Notification(receiver, key, "alert.firing", {"idempotencyKey": key})


class TestMigrations:
    def test_migrate_is_idempotent_and_reaches_head(self, engine: sa.Engine) -> None:
        """Migrating twice is harmless; the store then records the head revision."""
        assert migrate(engine) == head_revision()
        assert current_revision(engine) == head_revision()

    def test_migrations_match_the_table_definitions(self, engine: sa.Engine) -> None:
        """Alembic finds no difference between the migrated schema and schema.py."""
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if d[0] != "remove_table"] == []

    def test_open_store_creates_the_sqlite_folder(self, tmp_path: Path) -> None:
        """A SQLite path in a folder that does not exist yet works."""
        store = open_store(f"sqlite:///{tmp_path}/a/b/history.db")
        assert current_revision(store) is None
        migrate(store)
        assert (tmp_path / "a" / "b" / "history.db").exists()
        store.dispose()

    def test_unreachable_store_is_a_store_error_without_the_password(self) -> None:
        """A refused connection becomes StoreError, and the URL's password is not in it."""
        store = open_store("postgresql+psycopg://monitor:s3cr3t-pw@127.0.0.1:1/history")
        with pytest.raises(StoreError) as caught:
            migrate(store)
        assert "s3cr3t-pw" not in str(caught.value)
        store.dispose()


class TestHistory:
    def test_snapshot_advances_watermark_and_counters(self, engine: sa.Engine) -> None:
        """A stored poll writes its rows, moves the watermark to as_of and adds to counters."""
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", T0 - timedelta(hours=1), T0, stats("q", 5, 3)))
            history.record_snapshot(
                conn, snap("s", T0, T0 + timedelta(minutes=1), stats("q", 6, 2, 1))
            )
        with engine.connect() as conn:
            health = history.source_health(conn)["s"]
            [counter] = history.counters(conn)
            [latest] = history.latest(conn)
        assert health.watermark == T0 + timedelta(minutes=1)
        assert health.up and health.consecutive_failures == 0
        assert (counter["created_total"], counter["resolved_total"]) == (5, 1)
        assert latest["open_total"] == 6
        assert latest["ts"] == T0 + timedelta(minutes=1)
        assert latest["ts"].tzinfo is not None
        assert latest["open_breakdown"] == [["open", "P1", 6]]

    def test_timestamps_keep_microseconds(self, engine: sa.Engine) -> None:
        """The watermark comes back exactly; a truncated one would make windows overlap."""
        end = T0 + timedelta(microseconds=123456)
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", T0, end, stats("q", 1)))
        with engine.connect() as conn:
            assert history.source_health(conn)["s"].watermark == end

    def test_a_known_queue_missing_from_a_poll_is_stored_as_empty(self, engine: sa.Engine) -> None:
        """The store answered without the queue: it has nothing open, it is not unknown."""
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", T0, T0, stats("a", 4), stats("b", 7)))
            history.record_snapshot(conn, snap("s", T0, T0 + timedelta(minutes=1), stats("a", 5)))
        with engine.connect() as conn:
            latest = {r["queue"]: r for r in history.latest(conn)}
        assert latest["b"]["open_total"] == 0
        assert latest["b"]["ts"] == T0 + timedelta(minutes=1)
        assert latest["a"]["open_total"] == 5

    def test_failures_keep_the_watermark_and_count_up(self, engine: sa.Engine) -> None:
        """A failed poll is noted, the watermark stays, a success resets the failure count."""
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", T0, T0, stats("q", 1)))
            for n in (1, 2):
                assert (
                    history.record_failure(conn, "s", T0 + timedelta(minutes=n), "auth", "x") == n
                )
        with engine.connect() as conn:
            health = history.source_health(conn)["s"]
        assert health.watermark == T0
        assert not health.up
        assert (health.last_error_reason, health.consecutive_failures) == ("auth", 2)
        assert health.last_attempt_at == T0 + timedelta(minutes=2)
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", T0, T0 + timedelta(minutes=3), stats("q", 1)))
            health = history.source_health(conn)["s"]
        assert health.up and health.last_error is None

    def test_failure_of_a_never_polled_source(self, engine: sa.Engine) -> None:
        """A source whose first poll fails has no watermark and is down."""
        with engine.begin() as conn:
            history.record_failure(conn, "new", T0, "unavailable", "refused")
            health = history.source_health(conn)["new"]
        assert health.watermark is None and not health.up

    def test_series_is_inclusive_ordered_and_filtered(self, engine: sa.Engine) -> None:
        """series(start, end) keeps start <= ts <= end, oldest first, per (source, queue)."""
        with engine.begin() as conn:
            for m in range(5):
                at = T0 + timedelta(minutes=m)
                history.record_snapshot(conn, snap("s", at, at, stats("q", 10 + m)))
                history.record_snapshot(conn, snap("t", at, at, stats("q", m)))
        with engine.connect() as conn:
            out = history.series(conn, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
            only_t = history.series(conn, T0, T0 + timedelta(hours=1), sources=["t"])
        assert [r["open_total"] for r in out[("s", "q")]] == [11, 12, 13]
        assert set(out) == {("s", "q"), ("t", "q")}
        assert set(only_t) == {("t", "q")}

    def test_rollups_are_hourly_and_recomputed_not_added(self, engine: sa.Engine) -> None:
        """Rolling the same hour up twice gives the same aggregate."""
        with engine.begin() as conn:
            for m, n in enumerate((10, 30, 20)):
                at = T0 + timedelta(minutes=20 * m)
                history.record_snapshot(conn, snap("s", at, at, stats("q", n, created=2)))
            for _ in range(2):
                assert history.roll_up(conn, T0, T0 + timedelta(hours=1)) == 1
            [row] = history.rollup_series(conn, T0, T0 + timedelta(hours=1))[("s", "q")]
        assert row["hour"] == T0
        assert row["samples"] == 3
        assert (row["open_min"], row["open_max"], row["open_last"]) == (10, 30, 20)
        assert row["open_avg"] == pytest.approx(20)
        assert row["created"] == 6

    def test_rollups_fold_each_queue_and_hour_apart(self, engine: sa.Engine) -> None:
        """Interleaved queues over two hours: each (queue, hour) its own samples, extremes,
        last value and sums; the oldest age is None where no sample had one (open 0)."""
        opens = {"q": (10, 0, 5, 7), "r": (0, 0, 0, 4)}  # minutes 0, 20, 40 and 60
        with engine.begin() as conn:
            for m in range(4):
                at = T0 + timedelta(minutes=20 * m)
                queues = [stats(q, v[m], created=m, resolved=1) for q, v in opens.items()]
                history.record_snapshot(conn, snap("s", at, at, *queues))
            assert history.roll_up(conn, T0, T0 + timedelta(hours=2)) == 4
            rolled = history.rollup_series(conn, T0, T0 + timedelta(hours=2))
        q0, q1 = rolled[("s", "q")]
        r0, r1 = rolled[("s", "r")]
        assert (q0["samples"], q0["open_min"], q0["open_max"], q0["open_last"]) == (3, 0, 10, 5)
        assert q0["open_avg"] == pytest.approx(5)
        assert (q0["created"], q0["resolved"], q0["oldest_age_max_s"]) == (3, 3, 60.0)
        assert (q1["hour"], q1["samples"], q1["open_last"], q1["created"]) == (
            T0 + timedelta(hours=1),
            1,
            7,
            3,
        )
        assert (r0["samples"], r0["open_max"], r0["oldest_age_max_s"]) == (3, 0, None)
        assert (r1["open_last"], r1["oldest_age_max_s"]) == (4, 60.0)

    def test_prune_drops_old_raw_rows_and_old_rollups(self, engine: sa.Engine) -> None:
        """Raw rows older than the raw retention and rollups older than theirs are deleted."""
        with engine.begin() as conn:
            for h in range(4):
                at = T0 + timedelta(hours=h)
                history.record_snapshot(conn, snap("s", at, at, stats("q", h)))
            history.roll_up(conn, T0, T0 + timedelta(hours=5))
            now = T0 + timedelta(hours=4)
            removed = history.prune(conn, now, timedelta(hours=2), timedelta(hours=3))
            raw = conn.execute(sa.select(snapshots.c.ts).order_by(snapshots.c.ts)).scalars()
            kept = list(raw)
            rolled = history.rollup_series(conn, T0 - timedelta(days=1), now)[("s", "q")]
        assert kept == [T0 + timedelta(hours=2), T0 + timedelta(hours=3)]
        assert [r["hour"] for r in rolled] == [T0 + timedelta(hours=h) for h in (1, 2, 3)]
        assert removed == 3

    def test_naive_datetimes_are_refused(self, engine: sa.Engine) -> None:
        """Writing a naive timestamp is a programming error, caught before it reaches SQL."""
        naive = datetime(2016, 3, 21, 12, 0)
        with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as conn:
            history.record_failure(conn, "s", naive, "x", "y")

    def test_other_time_zones_are_stored_as_utc(self, engine: sa.Engine) -> None:
        """An aware non-UTC instant comes back as the same instant in UTC."""
        from zoneinfo import ZoneInfo

        local = T0.astimezone(ZoneInfo("America/Sao_Paulo"))
        with engine.begin() as conn:
            history.record_snapshot(conn, snap("s", local, local, stats("q", 1)))
            watermark = history.source_health(conn)["s"].watermark
        assert watermark == T0
        assert watermark is not None and watermark.utcoffset() == timedelta(0)


class TestAlertInstances:
    def test_save_and_load_round_trip_every_field(self, engine: sa.Engine) -> None:
        """An instance comes back equal, labels and timestamps included."""
        labels = {"alertname": "R", "queue": "Suporte Técnico", "source": "s"}
        inst = AlertInstance(
            fingerprint="f" * 16,
            rule="R",
            labels=labels,
            state=AlertState.FIRING,
            active_since=T0,
            fired_at=T0 + timedelta(minutes=10),
            resolved_at=None,
            keep_firing_since=T0 + timedelta(minutes=20),
            fire_value=612.5,
            last_value=640.0,
            last_eval_at=T0 + timedelta(minutes=21),
            state_reason="last(open_tickets) = 640 > 500",
        )
        with engine.begin() as conn:
            assert alert_store.save_instances(conn, [inst]) == 1
        with engine.connect() as conn:
            assert alert_store.load_instances(conn) == {inst.fingerprint: inst}

    def test_save_replaces_by_fingerprint(self, engine: sa.Engine) -> None:
        """Saving an instance again replaces it; other instances are untouched."""
        a = AlertInstance.new("R", {"alertname": "R", "queue": "a"})
        b = AlertInstance.new("R", {"alertname": "R", "queue": "b"})
        with engine.begin() as conn:
            alert_store.save_instances(conn, [a, b])
            alert_store.save_instances(conn, [replace(a, state=AlertState.PENDING)])
            assert alert_store.save_instances(conn, []) == 0
            loaded = alert_store.load_instances(conn)
        assert loaded[a.fingerprint].state is AlertState.PENDING
        assert loaded[b.fingerprint].state is AlertState.INACTIVE


class TestOutbox:
    def test_enqueue_ignores_a_key_already_present(self, engine: sa.Engine) -> None:
        """The same idempotency key is stored once, whether repeated in one call or later."""
        with engine.begin() as conn:
            assert outbox_store.enqueue(conn, [note("ops", "k1"), note("ops", "k2")], T0) == 2
            assert outbox_store.enqueue(conn, [note("ops", "k1"), note("ops", "k3")], T0) == 1
            assert outbox_store.enqueue(conn, [], T0) == 0
            counts = outbox_store.pending_counts(conn)
        assert counts == {("ops", "pending"): 3}

    def test_heads_are_the_oldest_due_message_per_receiver(self, engine: sa.Engine) -> None:
        """Only each receiver's oldest pending message is offered, and only once it is due."""
        with engine.begin() as conn:
            outbox_store.enqueue(conn, [note("ops", "o1"), note("audit", "a1")], T0)
            outbox_store.enqueue(conn, [note("ops", "o2")], T0)
            heads = outbox_store.heads(conn, T0, 100)
            assert [m.idempotency_key for m in heads] == ["o1", "a1"]
            assert heads[0].payload == '{"idempotencyKey":"o1"}'
            assert heads[0].created_at == T0

            retry_at = T0 + timedelta(seconds=30)
            outbox_store.mark_failed(conn, heads[0].id, "HTTP 503", retry_at)
            assert [m.idempotency_key for m in outbox_store.heads(conn, T0, 100)] == ["a1"]
            later = outbox_store.heads(conn, retry_at, 100)
            assert [(m.idempotency_key, m.attempts) for m in later] == [("o1", 1), ("a1", 0)]
            assert [m.idempotency_key for m in outbox_store.heads(conn, retry_at, 1)] == ["o1"]

    def test_dead_and_delivered_messages_let_the_next_one_through(self, engine: sa.Engine) -> None:
        """After a dead letter and a delivery, the next message of the receiver is the head."""
        with engine.begin() as conn:
            outbox_store.enqueue(conn, [note("ops", k) for k in ("k1", "k2", "k3")], T0)
            [first] = outbox_store.heads(conn, T0, 10)
            outbox_store.mark_failed(conn, first.id, "final: HTTP 400", None)
            [second] = outbox_store.heads(conn, T0, 10)
            outbox_store.mark_delivered(conn, second.id, T0)
            [third] = outbox_store.heads(conn, T0, 10)
            counts = outbox_store.pending_counts(conn)
        assert (first.idempotency_key, second.idempotency_key) == ("k1", "k2")
        assert third.idempotency_key == "k3"
        assert counts == {("ops", "dead"): 1, ("ops", "delivered"): 1, ("ops", "pending"): 1}

    def test_unknown_receivers_are_those_with_pending_messages_only(
        self, engine: sa.Engine
    ) -> None:
        """A receiver dropped from the config is reported while it still has pending mail."""
        with engine.begin() as conn:
            outbox_store.enqueue(conn, [note("gone", "g1"), note("ops", "o1")], T0)
            assert outbox_store.unknown_receivers(conn, {"ops"}) == {"gone"}
            [head] = [m for m in outbox_store.heads(conn, T0, 10) if m.receiver == "gone"]
            outbox_store.mark_delivered(conn, head.id, T0)
            assert outbox_store.unknown_receivers(conn, {"ops"}) == set()
