"""Udesk with ``mirror.reconcile_every``: open counts and ages from the mirror, each
queue's filters counted once per period, a few queues a poll (what makes 500 queues
pollable within Udesk's 60 a minute). Against the fake Udesk fed from the Volvo log,
every poll's open counts per queue and status and ages equal pandas' at that instant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from collectors.base import Snapshot, Window
from collectors.hosted.mirror import Change, Mirror
from collectors.hosted.rotation import in_slot
from collectors.udesk import UdeskCollector, UdeskConfig
from monitor.clock import FakeClock
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.udeskcheck import check_all, filters_read
from tests.collectors.stores.udesk import CHANGED, OPEN, PASSWORD, FakeUdesk, Kit, udesk_log

START = datetime(2012, 5, 2, 8, tzinfo=UTC)
STEP = timedelta(minutes=15)
SOURCE = "udesk"


def config(url: str, queues: int = 40, interval: str = "15m", **mirror: Any) -> UdeskConfig:
    source = Kit().config(url, {"queues": queues})
    source.update(
        password=PASSWORD,
        password_env=None,
        interval=interval,
        mirror={"changed_filter": CHANGED, "reconcile_every": "1h", **mirror},
        budget={"requests_per_minute": 60, "share": 1.0},
        max_wait="60s",
    )
    return UdeskConfig.model_validate(source)


@pytest.fixture
def udesk() -> Iterator[tuple[FakeClock, FakeUdesk, FakeServer]]:
    clock = FakeClock(START)
    # the budget is the collector's (60 a minute); the fake's minute is not what is
    # tested here, and the fake clock does not move while the collector waits
    fake = FakeUdesk(clock, per_minute=10**6)
    with FakeServer(fake) as server:
        yield clock, fake, server


def mirrored(server: FakeServer, clock: FakeClock, store: sa.Engine, **kw: Any) -> UdeskCollector:
    made = UdeskCollector(
        config(server.url, **kw), clock=lambda: clock().timestamp(), sleep=lambda s: None
    )
    made.attach_mirror(Mirror(store, SOURCE))
    return made


def poll(made: UdeskCollector, clock: FakeClock) -> Snapshot:
    clock.advance(STEP)
    return made.collect(Window(clock() - STEP, clock()))


class TestUdeskRotation:
    def test_counts_and_ages_from_the_mirror_equal_pandas_each_poll(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        made = mirrored(server, clock, store)
        c = made.config
        checked, counted = 0, set()
        for i in range(9):  # two hours and a quarter of the morning, every 15 minutes
            before = len(server.calls)
            checked += check_all(poll(made, clock), clock())
            assert made.mirror_drift is not None
            assert set(made.mirror_drift.values()) == {0}
            read = filters_read(server, before)
            counts = [f for f, per in read if per == "1"]
            turn = in_slot(clock(), len(c.queues), c.interval, timedelta(hours=1))
            assert counts == [str(f) for j in turn for f in c.queues[j].filters.values()]
            if i == 0:  # the build (in one poll here): every filter listed, then the turn
                listed = {f for f, per in read if per == "100"}
                assert listed == {str(f) for q in c.queues for f in q.filters.values()}
                assert len(read) == len(counts) + sum(1 for _, per in read if per == "100")
                counted |= set(counts)
                continue
            assert len(counts) == 20  # 40 queues over 4 polls, 2 filters each
            feed = [per for f, per in read if f == str(CHANGED)]
            assert feed and set(feed) == {"100"}  # the feed's pages, the rest counts
            assert len(read) == len(counts) + len(feed)
            counted |= set(counts)
        assert counted == {str(f) for q in c.queues for f in q.filters.values()}
        assert checked > 2_000  # real backlogs, not empty queues
        made.close()

    def test_a_silent_deletion_shows_at_the_queue_s_turn(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        made = mirrored(server, clock, store)
        poll(made, clock)
        c = made.config
        j = in_slot(clock() + 3 * STEP, len(c.queues), c.interval, timedelta(hours=1))[0]
        queue = c.queues[j].name
        state = udesk_log().queue_state_at(clock(), queue)
        gone = frozenset(state[state["status"].isin(OPEN)]["id"].astype(str).head(2))
        assert len(gone) == 2
        fake.deleted |= gone
        for _ in range(2):  # not its turn: the mirror still counts them, drift unchanged
            snapshot = poll(made, clock)
            held = {q.queue: q.open_total for q in snapshot.queues}
            # the log's open tickets, the two Udesk lost among them
            assert held[queue] == check_all_count(clock(), queue)
            assert made.mirror_drift is not None and made.mirror_drift.get(queue, 0) == 0
        poll(made, clock)  # its turn: counted, the drift is the two deleted
        assert made.mirror_drift is not None
        assert {q: d for q, d in made.mirror_drift.items() if d} == {queue: 2}
        made.close()

    def test_rebuild_above_rebuilds_at_the_next_poll(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        made = mirrored(server, clock, store, rebuild_above=1)
        poll(made, clock)
        c = made.config
        j = in_slot(clock() + STEP, len(c.queues), c.interval, timedelta(hours=1))[0]
        state = udesk_log().queue_state_at(clock(), c.queues[j].name)
        gone = frozenset(state[state["status"].isin(OPEN)]["id"].astype(str).head(2))
        fake.deleted |= gone
        poll(made, clock)
        assert made.mirror_drift is not None and made.mirror_drift[c.queues[j].name] == 2
        before = len(server.calls)
        check_all(poll(made, clock), clock(), gone)
        assert rebuilt(made, server, before)
        assert set(made.mirror_drift.values()) == {0}
        made.close()

    def test_a_restart_keeps_the_drift_and_the_schedule(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        first = mirrored(server, clock, store)
        poll(first, clock)
        c = first.config
        j = in_slot(clock() + STEP, len(c.queues), c.interval, timedelta(hours=1))[0]
        state = udesk_log().queue_state_at(clock(), c.queues[j].name)
        fake.deleted |= set(state[state["status"].isin(OPEN)]["id"].astype(str).head(1))
        poll(first, clock)
        first.close()
        second = mirrored(server, clock, store)  # a new process: only the store remembers
        before = len(server.calls)
        poll(second, clock)
        assert all(per == "1" or f == str(CHANGED) for f, per in filters_read(server, before))
        assert second.mirror_drift is not None
        assert {q: d for q, d in second.mirror_drift.items() if d} == {c.queues[j].name: 1}
        second.close()

    def test_a_mirror_kept_without_statuses_in_its_keys_is_rebuilt_once(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        old = Mirror(store, SOURCE)  # as the collector kept it before reconcile_every
        made = mirrored(server, clock, store)
        queue = made.config.queues[0].name
        ticket = Change("1", queue, START - timedelta(days=3), START, True)
        old.apply([ticket], START)
        before = len(server.calls)
        check_all(poll(made, clock), clock())
        assert rebuilt(made, server, before)
        before = len(server.calls)
        check_all(poll(made, clock), clock())
        assert "100" not in {per for f, per in filters_read(server, before) if f != str(CHANGED)}
        made.close()


def rebuilt(made: UdeskCollector, server: FakeServer, before: int) -> bool:
    """Every status filter listed 100 a page since call ``before`` (and the turn's
    filters counted after the build)."""
    read = filters_read(server, before)
    listed = {f for f, per in read if per == "100"}
    every = {str(f) for q in made.config.queues for f in q.filters.values()}
    return listed == every and {per for _, per in read} <= {"1", "100"}


def check_all_count(at: datetime, queue: str) -> int:
    state = udesk_log().queue_state_at(at, queue)
    return int(state["status"].isin(OPEN).sum())


def test_at_500_queues_a_poll_costs_what_the_reference_plans() -> None:
    """The reference's plan at 500 queues: 2-5 requests a poll; 500 queue counts a day."""
    day = config("http://127.0.0.1:9", queues=500, interval="5m", reconcile_every="1d")
    assert day.poll_cost().requests == 2 * 2 + 1  # 2 queues' filters + the feed
    minute = config("http://127.0.0.1:9", queues=500, interval="1m", reconcile_every="1d")
    assert minute.poll_cost().requests == 2 + 1


def test_without_reconcile_every_500_queues_are_over_the_budget() -> None:
    source = config("http://127.0.0.1:9", queues=500).model_dump(mode="json", exclude_none=True)
    source["password"] = PASSWORD
    del source["mirror"]["reconcile_every"]
    source["budget"] = {"requests_per_minute": 60, "share": 0.5}
    with pytest.raises(ValidationError, match="interval"):
        UdeskConfig.model_validate(source)


def test_reconcile_every_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="reconcile_every must be longer than 0"):
        config("http://127.0.0.1:9", reconcile_every="0s")
