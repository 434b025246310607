"""Udesk's and Fxiaoke's first mirror builds spread over polls and resumed after a
restart, against their fake servers fed from the real logs (Udesk: the BPI 2013 Volvo
incidents from 2 May 2012 08:00, Fxiaoke: the ServiceNow incidents from 8 March 2016).

Each build reads at most ``build_pages`` pages a poll, the collector is replaced by a new
one over the same mirror in the middle of the build (a restart: only the store
remembers), and the logs change while the build runs (tickets opened, moved and closed
between its polls; asserted). Until the build ends every poll raises
:class:`MirrorBuilding` with a progress that grows; the first poll after it gives
figures equal to pandas over the log's state at that instant, exactly, with drift 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.base import Snapshot, Window
from collectors.fxiaoke import FxiaokeCollector
from collectors.hosted.build import MirrorBuilding, allowed_per_poll, build_polls, pages_per_poll
from collectors.hosted.mirror import Mirror
from collectors.udesk import KEY, PAGE, UdeskCollector, UdeskConfig
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.http import daemon_registry
from monitor.store import history
from monitor.store.engine import migrate, open_store
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import Call, FakeServer
from tests.collectors.hosted.dayrun import Day, day_settings
from tests.collectors.hosted.test_fxiaoke_mirror import QUERY
from tests.collectors.hosted.test_fxiaoke_mirror import config as fxiaoke_config
from tests.collectors.hosted.test_fxiaoke_mirror import expected as fxiaoke_expected
from tests.collectors.hosted.udeskcheck import check_all
from tests.collectors.stores.fxiaoke import PERMANENT, SECRET, FakeFxiaoke, fxiaoke_log
from tests.collectors.stores.udesk import CHANGED, OPEN, PASSWORD, FakeUdesk, Kit, udesk_log

UDESK_START = datetime(2012, 5, 2, 8, tzinfo=UTC)
UDESK_STEP = timedelta(minutes=15)
UDESK_QUEUES = 6
FXIAOKE_START = datetime(2016, 3, 8, 9, tzinfo=UTC)
FXIAOKE_STEP = timedelta(minutes=30)
FXIAOKE_QUEUES = 6
RESTART_AFTER = 2
"""The collector is replaced after this many polls (the build under way)."""
BUILD_PAGES = 3


def run_polls(
    make: Callable[[], Any],
    clock: FakeClock,
    step: timedelta,
    mirror: Mirror,
    server: FakeServer,
    polls: int,
) -> list[dict[str, Any]]:
    """``polls`` polls, the collector made again after :data:`RESTART_AFTER`; per poll:
    the snapshot (None while building), the progress, the calls and the build position
    stored after it."""
    out: list[dict[str, Any]] = []
    collector = None
    try:
        for n in range(polls):
            if n in (0, RESTART_AFTER):
                if collector is not None:
                    collector.close()
                collector = make()
                collector.attach_mirror(mirror)
            assert collector is not None
            clock.advance(step)
            before = len(server.calls)
            snapshot: Snapshot | None = None
            progress: float | None = None
            try:
                snapshot = collector.collect(Window(clock() - step, clock()))
            except MirrorBuilding as err:
                progress = err.progress
            out.append(
                {
                    "at": clock(),
                    "snapshot": snapshot,
                    "progress": progress,
                    "metric": collector.mirror_build_progress,
                    "drift": collector.mirror_drift,
                    "calls": server.calls[before:],
                    "position": mirror.build_position(),
                    "resume": mirror.build_from(),
                }
            )
    finally:
        if collector is not None:
            collector.close()
    return out


def build_run(
    folder: Path,
    start: datetime,
    step: timedelta,
    fake: Callable[[FakeClock], Any],
    configure: Callable[[str], Any],
    collector: Callable[..., Any],
    polls: int,
) -> Iterator[dict[str, Any]]:
    """The polls of :func:`run_polls` against ``fake`` from ``start``, the mirror in a
    SQLite store in ``folder``; yields the configuration, the polls and the mirror."""
    engine = open_store(f"sqlite:///{folder}/history.db")
    migrate(engine)
    clock = FakeClock(start)
    mirror = Mirror(engine, "build")
    try:
        with FakeServer(fake(clock)) as server:
            config = configure(server.url)
            made = run_polls(
                lambda: collector(config, clock=lambda: clock().timestamp()),
                clock,
                step,
                mirror,
                server,
                polls,
            )
        yield {"config": config, "polls": made, "mirror": mirror}
    finally:
        engine.dispose()


def check_progress(polls: list[dict[str, Any]]) -> int:
    """The build ran over several polls, through the restart; the progress grew to 1.
    Returns the index of the first poll with figures."""
    done = next(i for i, p in enumerate(polls) if p["snapshot"] is not None)
    assert done > RESTART_AFTER, "the build did not outlast the restart"
    building = [p["progress"] for p in polls[:done]]
    assert all(0 < g < 1 for g in building)
    assert building == sorted(building) and len(set(building)) == len(building)
    assert [p["metric"] for p in polls[:done]] == building
    assert all(p["metric"] == 1.0 for p in polls[done:])
    assert all(p["position"] is not None for p in polls[:done])
    assert all(p["position"] is None and p["resume"] is None for p in polls[done:])
    return done


# -- Udesk ------------------------------------------------------------------------------


def udesk_config(url: str, **mirror: Any) -> UdeskConfig:
    source = Kit().config(url, {"queues": UDESK_QUEUES})
    source.update(
        password=PASSWORD,
        password_env=None,
        interval="15m",
        mirror={"changed_filter": CHANGED, "reconcile_every": "90m", **mirror},
        budget={"requests_per_minute": 60, "share": 1.0},
    )
    return UdeskConfig.model_validate(source)


def built_page(call: Call) -> tuple[int, int] | None:
    """(filter id, page) of a build request (a status filter, 100 a page)."""
    if not call.path.endswith("tickets_in_filter") or call.arg("per_page") != str(PAGE):
        return None
    if call.arg("filter_id") == str(CHANGED):
        return None
    return int(call.arg("filter_id") or 0), int(call.arg("page") or 0)


@pytest.fixture(scope="module")
def udesk_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from build_run(
        tmp_path_factory.mktemp("udesk-build"),
        UDESK_START,
        UDESK_STEP,
        FakeUdesk,
        lambda url: udesk_config(url, build_pages=BUILD_PAGES),
        UdeskCollector,
        polls=9,
    )


class TestUdeskBuild:
    def test_the_build_is_spread_over_polls_and_resumes_after_a_restart(
        self, udesk_run: dict[str, Any]
    ) -> None:
        config, polls = udesk_run["config"], udesk_run["polls"]
        done = check_progress(polls)
        order = [f for q in config.queues for f in q.filters.values()]
        pages = [[p for c in poll["calls"] if (p := built_page(c))] for poll in polls]
        assert all(0 < len(read) <= BUILD_PAGES for read in pages[: done + 1])
        assert not any(pages[done + 1 :])
        # the filters in order; each poll after the first starts one page back
        flat = [p for read in pages for p in read]
        assert [order.index(f) for f, _ in flat] == sorted(order.index(f) for f, _ in flat)
        for before, read in pairwise(pages[: done + 1]):
            f, page = before[-1]
            following = order[order.index(f) + 1] if f != order[-1] else None
            assert read[0] in {(f, page), (following, 1)}
        # the position stored before the restart is where the new process went on
        stored = polls[RESTART_AFTER - 1]["position"]
        first = pages[RESTART_AFTER][0]
        want = order[stored["filter"]], max(1, stored["page"] - 1)
        assert first == want
        # every status filter's every page read, at most one page again a poll
        state = udesk_log().state_at(UDESK_START)
        need = 0
        for q in config.queues:
            for status in q.filters:
                n = int(((state["queue"] == q.name) & (state["status"] == status)).sum())
                need += max(1, -(-n // PAGE))
        assert need <= len(flat) <= need + done
        assert need > 2 * BUILD_PAGES  # several polls' worth at the start

    def test_changes_during_the_build_are_in_the_figures_after_it(
        self, udesk_run: dict[str, Any]
    ) -> None:
        config, polls = udesk_run["config"], udesk_run["polls"]
        done = check_progress(polls)
        names = [q.name for q in config.queues]
        start, end = udesk_log().state_at(UDESK_START), udesk_log().state_at(polls[done]["at"])

        def opened(state: Any) -> set[tuple[str, str, str]]:
            mine = state[state["queue"].isin(names) & state["status"].isin(OPEN)]
            return set(zip(mine["id"].astype(str), mine["queue"], mine["status"], strict=True))

        before, after = opened(start), opened(end)
        assert len(before - after) >= 10 and len(after - before) >= 10  # the build's hours
        for n, poll in enumerate(polls[done:], start=done):
            assert check_all(poll["snapshot"], poll["at"]) > 300, n
        # every queue's open tickets are those of pandas in the mirror (per status)
        held = udesk_run["mirror"].open_counts()
        last = udesk_log().state_at(polls[-1]["at"])
        mine = last[last["queue"].isin(names) & last["status"].isin(OPEN)]
        want = mine.groupby(["queue", "status"]).size()
        assert held == {f"{q}{KEY}{s}": int(k) for (q, s), k in want.items()}
        drift = polls[-1]["drift"]
        assert drift is not None and set(drift.values()) == {0} and len(drift) >= 2

    def test_the_build_fits_the_budget_by_default(self) -> None:
        """At 500 queues (two open statuses each), 5-minute polls and half of the
        account's 60 a minute: 150 requests an interval, 5 the poll's own (2 queues'
        filters and the changed filter), 145 build pages; the 2,547 pages of 200,000 open
        tickets take 18 polls."""
        made = UdeskConfig.model_validate(
            {
                "kind": "udesk",
                "name": "u",
                "base_url": "http://x",
                "email": "a@b.c",
                "password": "p",
                "interval": "5m",
                "queues": [
                    {"name": f"q{i}", "filters": {"open": 2 * i + 1, "solving": 2 * i + 2}}
                    for i in range(500)
                ],
                "mirror": {"changed_filter": 9999, "reconcile_every": "1d"},
            }
        )
        assert allowed_per_poll(made.budget, made.interval) == 150
        assert made.poll_cost().requests == 5
        assert made.build_pages_per_poll() == 145
        assert build_polls(2547, 145) == 18
        with pytest.raises(ValidationError, match=r"build_pages: .* 151 requests, over the 150"):
            UdeskConfig.model_validate(
                {
                    **made.model_dump(mode="json"),
                    "password": "p",
                    "mirror": {"changed_filter": 9999, "reconcile_every": "1d", "build_pages": 146},
                }
            )
        assert pages_per_poll(None, None, 5) == 100


# -- Fxiaoke ----------------------------------------------------------------------------


def is_build(call: Call) -> bool:
    """A page of the build: open work orders by create_time, 100 a page."""
    if call.path != QUERY or not call.json():
        return False
    info = (call.json() or {})["data"]["search_query_info"]
    return info["limit"] == 100 and info["orders"][0]["fieldName"] == "create_time"


@pytest.fixture(scope="module")
def fxiaoke_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from build_run(
        tmp_path_factory.mktemp("fxiaoke-build"),
        FXIAOKE_START,
        FXIAOKE_STEP,
        FakeFxiaoke,
        lambda url: fxiaoke_config(url, queues=FXIAOKE_QUEUES, build_pages=1),
        FxiaokeCollector,
        polls=8,
    )


class TestFxiaokeBuild:
    def test_the_build_is_spread_over_polls_and_resumes_after_a_restart(
        self, fxiaoke_run: dict[str, Any]
    ) -> None:
        polls = fxiaoke_run["polls"]
        done = check_progress(polls)
        pages = [[c for c in poll["calls"] if is_build(c)] for poll in polls]
        assert [len(p) for p in pages[: done + 1]] == [1] * (done + 1)
        assert not any(pages[done + 1 :])
        bounds = []
        for page in (p for read in pages for p in read):
            info = (page.json() or {})["data"]["search_query_info"]
            created = [f for f in info["filters"] if f["field_name"] == "create_time"]
            bounds.append((created[0]["field_values"][0], info["offset"]))
            assert info["offset"] % info["limit"] == 0
        assert bounds[0] == (0, 0) and bounds == sorted(bounds)
        # the new process went on from the stored bound
        stored = polls[RESTART_AFTER - 1]
        at = (stored["resume"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
        assert bounds[RESTART_AFTER] == (at, stored["position"]["offset"])

    def test_changes_during_the_build_are_in_the_figures_after_it(
        self, fxiaoke_run: dict[str, Any]
    ) -> None:
        config, polls = fxiaoke_run["config"], fxiaoke_run["polls"]
        done = check_progress(polls)
        values = [q.value for q in config.queues]
        start, end = (
            fxiaoke_log().state_at(FXIAOKE_START),
            fxiaoke_log().state_at(polls[done]["at"]),
        )

        def opened(state: Any) -> set[str]:
            return set(state[state["queue"].isin(values) & ~state["done"]]["id"].astype(str))

        assert len(opened(start) - opened(end)) >= 10 and len(opened(end) - opened(start)) >= 10
        collector = FxiaokeCollector(config)
        first = polls[done]["snapshot"]
        # the first figures cover every window the build's polls left (the daemon keeps
        # the window); here each poll's window is its own, so created/resolved are the
        # last window's, open and ages the log's at that instant
        for poll in polls[done:]:
            snapshot = poll["snapshot"]
            assert snapshot.queues == fxiaoke_expected(collector, snapshot.window)
        assert sum(q.open_total for q in first.queues) > 100
        drift = polls[-1]["drift"]
        assert drift is not None and set(drift.values()) == {0}
        collector.close()


class Recording(FxiaokeCollector):
    """The collector, keeping the window of each poll."""

    windows: list[Window]

    def collect(self, window: Window) -> Snapshot:
        self.windows.append(window)
        return super().collect(window)


def test_through_the_daemon_the_build_stores_nothing_and_counts_no_error(
    tmp_path: Path,
) -> None:
    """Fxiaoke built a page a poll through the daemon: the build's polls store nothing,
    count no error and export a growing progress; no watermark is stored meanwhile, so
    each is asked a first window (``first_window`` back, as any first poll), and from
    the first stored poll on the created work orders counted are pandas'; then every
    poll succeeds."""
    clock = FakeClock(FXIAOKE_START)
    step = timedelta(minutes=5)
    with FakeServer(FakeFxiaoke(clock)) as server:
        made = Recording(
            fxiaoke_config(server.url, queues=FXIAOKE_QUEUES, build_pages=1),
            clock=lambda: clock().timestamp(),
        )
        made.windows = []
        source = made.config.model_dump(mode="json", exclude_none=True)
        source.update(app_secret=SECRET, permanent_code=PERMANENT)
        first = made.config.queues[0].name
        plan = Day(FXIAOKE_START, (FXIAOKE_START, FXIAOKE_START), "fxiaoke", first, "R", 1e9, 0)
        engine = open_store(f"sqlite:///{tmp_path}/history.db")
        daemon = Daemon(
            day_settings(plan, source), clock=clock, collectors={"fxiaoke": made}, engine=engine
        )
        daemon.migrate()
        stored, progress = [], []
        try:
            for _ in range(8):
                clock.advance(step)
                stored.append(daemon.poll("fxiaoke"))
                progress.append(daemon.stats.build_progress["fxiaoke"])
            metric = {
                s.labels["source"]: s.value
                for f in daemon_registry(daemon).collect()
                if f.name == "backlog_collector_mirror_build_progress"
                for s in f.samples
            }
            with engine.connect() as conn:
                counters = {r["queue"]: r for r in history.counters(conn)}
        finally:
            daemon.close()
    built = stored.index(True)
    assert built >= 3 and stored == [False] * built + [True] * (len(stored) - built)
    assert progress[:built] == sorted(progress[:built]) and progress[built:] == [1.0] * (
        len(stored) - built
    )
    assert 0 < progress[0] < 1 and metric == {"fxiaoke": 1.0}
    assert daemon.stats.collector_errors == {}
    windows = made.windows
    assert all(w.end - w.start == made.config.first_window for w in windows[: built + 1])
    assert all(b.start == a.end for a, b in pairwise(windows[built:]))
    queues = [(q.value, q.name) for q in made.config.queues]
    created: dict[str, int] = {}
    for window in windows[built:]:  # each poll's, in the queue of that instant
        for q in expected_queues(fxiaoke_log(), queues, window.start, window.end):
            created[q.queue] = created.get(q.queue, 0) + (q.created or 0)
    assert {q: counters[q]["created_total"] for q in created} == created
    assert sum(created.values()) >= 5
