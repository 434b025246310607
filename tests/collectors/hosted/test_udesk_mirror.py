"""Udesk with ``mirror:``: ages from the local mirror fed by the "updated in the last day"
filter, against the fake Udesk fed from the real log (the BPI 2013 Volvo incidents), each
figure checked against pandas over the log's state at each poll; drift when Udesk loses
tickets silently (deleted or merged: gone from every filter and count, in no feed); a
restart resumes from the stored cursor (no rebuild), and a cursor older than the
filter's span rebuilds. Through the daemon: the mirror is attached from the store and
the drift is exported as ``backlog_collector_mirror_drift``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from collectors.base import Snapshot, Window
from collectors.hosted.mirror import Mirror
from collectors.udesk import KEY, UdeskCollector, UdeskConfig
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.errors import MappingError
from monitor.http import daemon_registry
from tests.collectors.fakeserver import FakeServer
from tests.collectors.hosted.dayrun import Day, day_settings
from tests.collectors.hosted.udeskcheck import check_all, filters_read
from tests.collectors.stores.udesk import CHANGED, OPEN, PASSWORD, FakeUdesk, Kit, udesk_log

START = datetime(2012, 5, 2, 8, tzinfo=UTC)
STEP = timedelta(minutes=15)
SOURCE = "udesk"
DAY = Day(
    start=START,
    storm=(START, START),
    source=SOURCE,
    queue="G96",
    rule="R",
    threshold=1e9,
    recover=1e9 - 1,
)


def config(url: str, queues: int = 3, **mirror: Any) -> UdeskConfig:
    source = Kit().config(url, {"queues": queues})
    source.update(
        password=PASSWORD,
        password_env=None,
        interval="15m",
        mirror={"changed_filter": CHANGED, **mirror},
        budget={"requests_per_minute": 60, "share": 1.0},
    )
    return UdeskConfig.model_validate(source)


@pytest.fixture
def udesk() -> Iterator[tuple[FakeClock, FakeUdesk, FakeServer]]:
    clock = FakeClock(START)
    fake = FakeUdesk(clock)
    with FakeServer(fake) as server:
        yield clock, fake, server


def collector(server: FakeServer, clock: Callable[[], datetime], **mirror: Any) -> UdeskCollector:
    return UdeskCollector(config(server.url, **mirror), clock=lambda: clock().timestamp())


def mirrored(
    server: FakeServer, clock: Callable[[], datetime], store: sa.Engine, **mirror: Any
) -> UdeskCollector:
    """A collector with the mirror in ``store`` attached, as the daemon attaches it."""
    made = collector(server, clock, **mirror)
    made.attach_mirror(Mirror(store, SOURCE))
    return made


def poll(made: UdeskCollector, clock: FakeClock) -> Snapshot:
    clock.advance(STEP)
    return made.collect(Window(clock() - STEP, clock()))


def expected_ages(at: datetime, queue: str, deleted: frozenset[str]) -> dict[str, Any]:
    """pandas: the queue's open tickets' ages at ``at`` (nearest-rank quantiles)."""
    state = udesk_log().queue_state_at(at, queue)
    open_ = state[state["status"].isin(OPEN) & ~state["id"].isin(deleted)]
    if open_.empty:
        return {"oldest_age_s": None, "age_quantiles": None}
    # Udesk's times have whole seconds, as the fake writes them
    created = open_["created"].dt.floor("s")
    seconds = (pd.Timestamp(at) - created).dt.total_seconds().to_numpy()
    return {
        "oldest_age_s": float(seconds.max()),
        "age_quantiles": {
            "0.5": float(np.quantile(seconds, 0.5, method="inverted_cdf")),
            "0.9": float(np.quantile(seconds, 0.9, method="inverted_cdf")),
        },
    }


def check_exact(snapshot: Snapshot, deleted: frozenset[str] = frozenset()) -> int:
    checked = 0
    for q in snapshot.queues:
        want = expected_ages(snapshot.window.end, q.queue, deleted)
        assert {"oldest_age_s": q.oldest_age_s, "age_quantiles": q.age_quantiles} == want
        checked += q.open_total
    return checked


class TestUdeskMirror:
    def test_ages_equal_pandas_and_drift_is_zero(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        made = mirrored(server, clock, store)
        checked = 0
        for _ in range(8):  # two hours of the morning, every 15 minutes
            checked += check_exact(poll(made, clock))
            assert made.mirror_drift is not None
            assert set(made.mirror_drift.values()) == {0}
        assert checked > 300  # three teams' real backlogs, not an empty case
        # the first poll listed the queues' filters 100 a page; later ones the feed only
        later = filters_read(server)[-20:]
        assert (str(CHANGED), "100") in later
        assert all(f == str(CHANGED) or per == "1" for f, per in later)
        made.close()

    def test_a_silent_deletion_is_drift_and_the_ages_follow_the_mirror(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        made = mirrored(server, clock, store)
        poll(made, clock)
        queue = made.config.queues[0].name
        state = udesk_log().queue_state_at(clock(), queue)
        gone = set(state[state["status"].isin(OPEN)]["id"].astype(str).head(2))
        fake.deleted |= gone
        snapshot = poll(made, clock)
        assert made.mirror_drift is not None
        assert {q: d for q, d in made.mirror_drift.items() if d} == {queue: 2}
        # the store's counts drop; the mirror still holds the two (it cannot know)
        counted = {q.queue: q.open_total for q in snapshot.queues}
        held = Mirror(store, SOURCE).open_counts()  # per queue and status
        assert counted[queue] + 2 == sum(n for k, n in held.items() if k.startswith(queue + KEY))
        made.close()

    def test_a_drift_above_rebuild_above_rebuilds_at_the_next_poll(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        made = mirrored(server, clock, store, rebuild_above=1)
        poll(made, clock)
        queue = made.config.queues[2].name
        state = udesk_log().queue_state_at(clock(), queue)
        gone = set(state[state["status"].isin(OPEN)]["id"].astype(str).head(2))
        fake.deleted |= gone
        drifted = poll(made, clock)
        assert made.mirror_drift is not None and made.mirror_drift[queue] == 2
        # the drifted poll still reports the mirror's ages (read before the reset)
        assert all(q.oldest_age_s is not None for q in drifted.queues if q.open_total)
        before = len(server.calls)
        check_exact(poll(made, clock), frozenset(gone))
        rebuilt = {c.arg("filter_id") for c in server.calls[before:] if c.arg("per_page") == "100"}
        assert rebuilt >= {str(f) for f in made.config.queues[0].filters.values()}
        assert set(made.mirror_drift.values()) == {0}
        made.close()

    def test_a_restart_resumes_from_the_cursor(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        first = mirrored(server, clock, store)
        poll(first, clock)
        poll(first, clock)
        first.close()
        clock.advance(timedelta(hours=1))  # the daemon is down for an hour
        before = len(server.calls)
        second = collector(server, clock)  # a new process: only the store remembers
        second.attach_mirror(Mirror(store, SOURCE))
        check_exact(poll(second, clock))
        read = [
            (c.arg("filter_id"), c.arg("per_page"))
            for c in server.calls[before:]
            if c.path.endswith("tickets_in_filter")
        ]
        assert all(f == str(CHANGED) or per == "1" for f, per in read), "no rebuild"
        assert second.mirror_drift is not None and set(second.mirror_drift.values()) == {0}
        second.close()

    def test_the_cursor_is_when_the_feed_was_read_not_the_window_end(
        self, store: sa.Engine
    ) -> None:
        """Polls that run 30 minutes after their window's end (as after a build that
        waited for the budget): the cursor is the instant the feed was read, so each
        feed reads the tickets updated since the last read (less the overlap), not the
        30 minutes more since the last window's end; every figure stays exact."""
        clock = FakeClock(START)

        def late() -> datetime:  # Udesk's time, and the collector's
            return clock() + timedelta(minutes=30)

        with FakeServer(FakeUdesk(late)) as server:
            made = mirrored(server, late, store)
            poll(made, clock)  # the build
            assert Mirror(store, SOURCE).cursor() == late()
            overlap = timedelta(minutes=2)
            assert made.config.mirror is not None and made.config.mirror.overlap == overlap
            for _ in range(4):
                since = Mirror(store, SOURCE).cursor()
                assert since is not None
                before = len(server.calls)
                snapshot = poll(made, clock)
                assert check_all(snapshot, late()) > 0
                feed = [c for c in server.calls[before:] if c.arg("filter_id") == str(CHANGED)]
                state = udesk_log().state_at(late())
                changed = int((state["modified"] >= pd.Timestamp(since - overlap)).sum())
                assert len(feed) == changed // 100 + 1
                assert Mirror(store, SOURCE).cursor() == late()
            made.close()

    def test_a_cursor_older_than_the_filter_span_rebuilds(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        made = mirrored(server, clock, store)
        poll(made, clock)
        clock.advance(timedelta(days=1))  # longer than "updated in the last day"
        before = len(server.calls)
        check_exact(poll(made, clock))
        rebuilt = {c.arg("filter_id") for c in server.calls[before:] if c.arg("per_page") == "100"}
        assert rebuilt == {str(f) for q in made.config.queues for f in q.filters.values()}
        assert made.mirror_drift is not None and set(made.mirror_drift.values()) == {0}
        made.close()

    def test_a_changed_filter_sorted_oldest_first_is_a_clear_error(
        self, store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, fake, server = udesk
        made = mirrored(server, clock, store)
        poll(made, clock)
        fake.changed_oldest_first = True
        cursor = Mirror(store, SOURCE).cursor()
        with pytest.raises(MappingError, match="not sorted by update time, newest first"):
            poll(made, clock)
        assert Mirror(store, SOURCE).cursor() == cursor  # nothing applied
        made.close()

    def test_without_a_mirror_attached_ages_are_absent(
        self, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
    ) -> None:
        clock, _fake, server = udesk
        made = collector(server, clock)
        snapshot = poll(made, clock)
        assert all(q.oldest_age_s is None and q.age_quantiles is None for q in snapshot.queues)
        assert made.mirror_drift is None
        made.close()


def test_the_mirror_adds_the_feed_pages_to_the_poll_cost() -> None:
    """3 queues of 2 filters, plus the feed: 10 changes a minute over 15 + 2 minutes."""
    assert config("http://127.0.0.1:9").poll_cost().requests == 6 + 2


def test_the_daemon_attaches_the_mirror_and_exports_the_drift(
    store: sa.Engine, udesk: tuple[FakeClock, FakeUdesk, FakeServer]
) -> None:
    """The daemon attaches the mirror in its own store to a source configured with one,
    and after a silent deletion the drift is on /metrics."""
    clock, fake, server = udesk
    made = collector(server, clock)  # on the fake's clock (Udesk checks the timestamp)
    source = made.config.model_dump(mode="json", exclude_none=True)
    source["password"] = PASSWORD
    settings = day_settings(DAY, source)
    daemon = Daemon(settings, clock=clock, collectors={SOURCE: made}, engine=store, speedup=1e9)
    daemon.migrate()
    try:
        clock.advance(STEP)
        assert daemon.poll(SOURCE)
        queue = made.config.queues[1].name
        state = udesk_log().queue_state_at(clock(), queue)
        fake.deleted.add(str(state[state["status"].isin(OPEN)]["id"].iloc[0]))
        clock.advance(STEP)
        assert daemon.poll(SOURCE)
        drift = {
            s.labels["queue"]: s.value
            for f in daemon_registry(daemon).collect()
            if f.name == "backlog_collector_mirror_drift"
            for s in f.samples
        }
        assert drift == {q.name: (1.0 if q.name == queue else 0.0) for q in made.config.queues}
        assert Mirror(store, SOURCE).last_drift()[1] == {k: int(v) for k, v in drift.items()}
    finally:
        daemon.close()


def test_with_a_mirror_the_filter_labels_must_be_udesk_statuses() -> None:
    source = Kit().config("http://127.0.0.1:9", {"queues": 1})
    source.update(password=PASSWORD, password_env=None, mirror={"changed_filter": CHANGED})
    source["queues"][0]["filters"] = {"new": 1, "solving": 2}
    with pytest.raises(ValidationError, match=r"queues -> 0 -> filters: .* not new"):
        UdeskConfig.model_validate(source)
    del source["mirror"]
    UdeskConfig.model_validate(source)  # labels are free without a mirror
