"""Replicas on one real PostgreSQL store: one leader, fencing of a stale one, failover.

Time is a fake clock for the lease rows and the replicas' own (monotonic) clocks; the
store, its row locks and the receiver are real.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from alerting.notifications import Notification
from collectors.base import Snapshot, Window
from config.lease import LeaseSettings
from config.settings import Settings
from monitor.daemon import Daemon
from monitor.errors import LeaseLost
from monitor.leadership import LeaderLease
from monitor.lease import Fence, Role
from monitor.store import leases
from monitor.store import outbox as outbox_store
from monitor.store.engine import migrate, open_store
from tests.fakes import T0, FakeClock, RecordingReceiver, ScriptedCollector
from tests.monitor.test_daemon import (
    POLL,
    SOURCE,
    Backlog,
    make_settings,
    outbox_rows,
    registry_for,
)
from tests.processes import eventually

pytestmark = pytest.mark.postgres

SETTINGS = LeaseSettings(ttl=timedelta(seconds=15), renew_interval=timedelta(seconds=5))
SLOW = LeaseSettings(ttl=timedelta(minutes=3), renew_interval=POLL)
"""For daemons stepped a poll interval (a minute) at a time."""


@pytest.fixture
def engines(pg_database: str) -> Iterator[Callable[[], sa.Engine]]:
    """Engines on one migrated PostgreSQL store, one per replica (as separate processes)."""
    made: list[sa.Engine] = []

    def engine() -> sa.Engine:
        made.append(open_store(pg_database))
        return made[-1]

    migrate(engine())
    yield engine
    for e in made:
        e.dispose()


def lease_for(
    engine: sa.Engine, holder: str, clock: FakeClock, settings: LeaseSettings = SETTINGS
) -> LeaderLease:
    """A replica's lease whose store and monotonic clocks are both ``clock``."""
    return LeaderLease(
        engine,
        settings.model_copy(update={"holder": holder}),
        clock=clock,
        monotonic=lambda: (clock.now - T0).total_seconds(),
    )


def leader_and_rival(
    engines: Callable[[], sa.Engine], clock: FakeClock
) -> tuple[sa.Engine, Fence, LeaderLease]:
    """A's engine and fence (A leads, generation 1), and B's lease, not yet asked."""
    engine = engines()
    a, b = lease_for(engine, "a", clock), lease_for(engines(), "b", clock)
    a.renew()
    fence = a.fence()
    assert fence is not None
    return engine, fence, b


def message(engine: sa.Engine, key: str = "k1") -> int:
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [Notification("ops", key, "alert.firing", {"k": key})], T0)
    return outbox_rows(engine)[-1]["id"]  # type: ignore[no-any-return]


class TestLease:
    def test_one_leader_and_the_old_one_stops_before_the_takeover(
        self, engines: Callable[[], sa.Engine], clock: FakeClock
    ) -> None:
        """B takes over only after A's lease expired; A stopped acting before that instant."""
        a, b = lease_for(engines(), "a", clock), lease_for(engines(), "b", clock)
        assert (a.renew(), b.renew()) == (Role.LEADER, Role.FOLLOWER)
        clock.advance(timedelta(seconds=5))
        assert (a.renew(), b.renew()) == (Role.LEADER, Role.FOLLOWER)
        leaders_at: dict[int, list[str]] = {}
        for second in range(6, 25):  # A is gone: only B asks, every second
            clock.now = T0 + timedelta(seconds=second)
            b.renew()
            leaders_at[second] = [r.holder for r in (a, b) if r.fence() is not None]
        assert leaders_at[14] == ["a"]  # acting until 5 + (15 - 5)
        assert leaders_at[15] == leaders_at[19] == []  # nobody between A's stop and expiry
        assert leaders_at[20] == ["b"]  # the expiry: 5 + 15
        assert all(len(holders) <= 1 for holders in leaders_at.values())
        assert b.fence() == Fence("backlog-monitor", "b", 2)

    def test_a_store_error_keeps_the_lease_until_the_local_term_ends(
        self, engines: Callable[[], sa.Engine], clock: FakeClock, pg_database: str
    ) -> None:
        """A renewal that cannot reach the store changes nothing until ttl - renew_interval."""
        broken = open_store(pg_database.replace("127.0.0.1:5432", "127.0.0.1:1"))
        a = lease_for(engines(), "a", clock)
        a.renew()
        a._engine = broken  # the store becomes unreachable for this replica
        clock.advance(timedelta(seconds=9))
        assert a.renew() is Role.LEADER
        clock.advance(timedelta(seconds=1))
        assert a.renew() is Role.FOLLOWER and a.fence() is None
        broken.dispose()


class TestFencing:
    def test_stale_leader_claim_and_commit_are_refused(
        self, engines: Callable[[], sa.Engine], clock: FakeClock
    ) -> None:
        """After a takeover, the old generation can neither claim nor record a message."""
        engine, stale, b = leader_and_rival(engines, clock)
        first, second = message(engine, "k1"), message(engine, "k2")
        with engine.begin() as conn:
            outbox_store.claim(conn, first, stale)  # A sends k1, then pauses past its lease
        clock.advance(SETTINGS.ttl)
        assert b.renew() is Role.LEADER
        fresh = b.fence()
        assert fresh is not None
        for attempt in (
            lambda conn: outbox_store.claim(conn, second, stale),
            lambda conn: outbox_store.mark_delivered(conn, first, clock.now, stale),
            lambda conn: outbox_store.mark_failed(conn, first, "HTTP 503", clock.now, stale),
        ):
            with pytest.raises(LeaseLost), engine.begin() as conn:
                attempt(conn)
        assert [r["status"] for r in outbox_rows(engine)] == ["pending", "pending"]
        with engine.begin() as conn:
            outbox_store.claim(conn, first, fresh)
            outbox_store.mark_delivered(conn, first, clock.now, fresh)
        rows = outbox_rows(engine)
        assert [(r["status"], r["claim_generation"]) for r in rows] == [
            ("delivered", 2),
            ("pending", None),
        ]

    def test_takeover_waits_for_a_fenced_write_to_commit(
        self, engines: Callable[[], sa.Engine], clock: FakeClock
    ) -> None:
        """A takeover blocks on the old leader's open fenced transaction, then wins."""
        engine, fence, b = leader_and_rival(engines, clock)
        clock.advance(SETTINGS.ttl)
        outcome: list[Role] = []
        with engine.begin() as conn:
            leases.check_fence(conn, fence)  # still generation 1: the write may go ahead
            pid = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
            taker = threading.Thread(target=lambda: outcome.append(b.renew()))
            taker.start()
            eventually(lambda: _blocked_by(engines(), pid), "the takeover to wait on the lock")
            assert outcome == []
        taker.join(timeout=60)
        assert outcome == [Role.LEADER]
        with pytest.raises(LeaseLost), engine.begin() as conn:
            leases.check_fence(conn, fence)


def _blocked_by(engine: sa.Engine, pid: int) -> bool:
    """True when some backend waits for a lock that backend ``pid`` holds."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
            ),
            {"pid": pid},
        ).scalar_one()
    engine.dispose()
    return bool(rows)


class TestTwoDaemons:
    def replicas(
        self, engines: Callable[[], sa.Engine], clock: FakeClock, settings: Settings
    ) -> tuple[Daemon, Daemon, Backlog]:
        backlog = Backlog(open=600)
        daemons = []
        for holder in ("a", "b"):
            engine = engines()
            daemons.append(
                Daemon(
                    settings,
                    clock=clock,
                    collectors={SOURCE: ScriptedCollector(SOURCE, backlog)},
                    engine=engine,
                    speedup=1e9,
                    leadership=lease_for(engine, holder, clock, SLOW),
                )
            )
        return daemons[0], daemons[1], backlog

    def test_only_the_leader_notifies_and_the_follower_takes_over_the_outbox(
        self,
        engines: Callable[[], sa.Engine],
        clock: FakeClock,
        receiver: RecordingReceiver,
    ) -> None:
        """Both poll, one window stored once; only A sends; after A dies B sends the rest."""
        settings = make_settings({"ops": receiver.url}, for_="0s")
        a, b, backlog = self.replicas(engines, clock, settings)
        backlog.created_at = [T0 + timedelta(seconds=s) for s in (10, 70, 80, 130)]
        assert (a.hold_lease(), b.hold_lease()) == (Role.LEADER, Role.FOLLOWER)
        for _ in range(2):
            clock.advance(POLL)
            for replica in (a, b):
                replica.hold_lease()
                replica.poll(SOURCE)
                replica.evaluate()
                replica.deliver()
        assert [r.headers["webhook-id"] for r in receiver.received] == [
            r["idempotency_key"] for r in outbox_rows(a.engine)
        ]
        assert len(receiver.received) == 1
        with a.engine.connect() as conn:
            created = conn.execute(sa.text("SELECT created_total FROM queue_counters")).scalars()
            assert set(created) == {3}  # [T0 - 1h, T0 + 2m): 10s, 70s, 80s, each once

        receiver.status = 503  # A's next notification waits in the outbox when A dies
        backlog.open = 100
        clock.advance(POLL)
        a.poll(SOURCE)
        a.evaluate()
        a.deliver()
        pending = [r["idempotency_key"] for r in outbox_rows(a.engine) if r["status"] == "pending"]
        assert len(pending) == 1
        receiver.status = 204
        assert b.deliver() == 0  # a follower never sends
        clock.advance(SLOW.ttl)
        assert b.hold_lease() is Role.LEADER
        clock.advance(timedelta(minutes=1))  # past the retry delay
        assert b.hold_lease() is Role.LEADER
        assert b.deliver() == 1
        keys = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert set(keys) == {r["idempotency_key"] for r in outbox_rows(a.engine)}
        assert set(keys.values()) == {1}

    def test_a_window_polled_by_both_at_once_is_stored_once(
        self, engines: Callable[[], sa.Engine], clock: FakeClock, receiver: RecordingReceiver
    ) -> None:
        """B reads the watermark, A stores that window meanwhile: B's snapshot is dropped."""
        a, b, backlog = self.replicas(engines, clock, make_settings({"ops": receiver.url}))
        backlog.created_at = [T0 - timedelta(minutes=30), T0 + timedelta(seconds=30)]

        def b_answer(window: Window) -> Snapshot:
            assert a.poll(SOURCE)  # A stores the same window while B's poll is running
            return backlog(window)

        b.collectors[SOURCE] = ScriptedCollector(SOURCE, b_answer)
        clock.advance(POLL)
        assert b.poll(SOURCE)  # the source answered: B counts it as polled
        with a.engine.connect() as conn:
            totals = conn.execute(sa.text("SELECT created_total FROM queue_counters")).all()
            snapshots = conn.execute(sa.text("SELECT count(*) FROM snapshots")).scalar_one()
        assert (totals, snapshots) == ([(2,)], 1)

    def test_a_paused_leader_that_still_thinks_it_leads_is_refused_by_the_store(
        self, engines: Callable[[], sa.Engine], clock: FakeClock, receiver: RecordingReceiver
    ) -> None:
        """A's own clock stood still (a pause) while B took over: A's evaluation rolls back
        and its delivery is refused before sending; A steps down; B sends, once."""
        settings = make_settings({"ops": receiver.url}, for_="0s")
        a, b, _ = self.replicas(engines, clock, settings)
        # A's two jobs, each holding the lease as of before the pause (one replica).
        evaluating, delivering = (
            LeaderLease(
                a.engine,
                SLOW.model_copy(update={"holder": "a"}),
                clock=clock,
                monotonic=lambda: 0.0,
            )
            for _ in range(2)
        )
        assert [evaluating.renew(), delivering.renew(), b.hold_lease()] == [
            Role.LEADER,
            Role.LEADER,
            Role.FOLLOWER,
        ]
        clock.advance(POLL)
        a.poll(SOURCE)
        clock.advance(SLOW.ttl)  # A is paused past its lease; B takes it
        assert b.hold_lease() is Role.LEADER

        a.leadership = evaluating
        assert evaluating.fence() is not None  # A believes it still leads
        assert a.evaluate().transitions == []  # refused: rolled back
        assert outbox_rows(a.engine) == [] and evaluating.fence() is None
        assert b.evaluate().transitions  # B fires, from the same stored data

        a.leadership = delivering
        assert delivering.fence() is not None
        assert a.deliver() == 0 and receiver.attempts == 0  # refused before sending
        assert delivering.fence() is None
        assert b.deliver() == 1
        assert [r.headers["webhook-id"] for r in receiver.received] == [
            r["idempotency_key"] for r in outbox_rows(a.engine)
        ]

    def test_readyz_role_and_gauge_follow_the_lease(
        self, engines: Callable[[], sa.Engine], clock: FakeClock, receiver: RecordingReceiver
    ) -> None:
        """With the store's own clock, one daemon reports leader=1, the other 0."""
        settings = make_settings({"ops": receiver.url})
        daemons = [Daemon(settings, clock=clock, collectors={}, engine=engines()) for _ in range(2)]
        assert [d.hold_lease() for d in daemons] == [Role.LEADER, Role.FOLLOWER]
        gauges = [registry_for(d).get_sample_value("backlog_leader") for d in daemons]
        assert gauges == [1.0, 0.0]
        daemons[0].close()  # a graceful stop releases the lease: the other takes it at once
        assert daemons[1].hold_lease() is Role.LEADER
        assert registry_for(daemons[1]).get_sample_value("backlog_leader") == 1.0
        daemons[1].close()
