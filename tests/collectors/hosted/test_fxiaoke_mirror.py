"""Fxiaoke with ``mirror:``: the figures of live polls from the local mirror fed by the
``last_modified_time`` listing, against the fake Fxiaoke fed from the real log (the
ServiceNow incidents, 8 March 2016), each figure checked against pandas over the log's
state at each poll (``tests/collectors/expected.py``, numpy for the age quantiles); the
drift 0 where reconciled; a work order moved or closed between polls; a silent deletion
as drift, and a rebuild after a reset."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from collectors.base import QueueStats, Snapshot, Window
from collectors.fxiaoke import FxiaokeCollector, FxiaokeConfig, reconciled_at
from collectors.hosted.mirror import Mirror
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.errors import MappingError
from monitor.http import daemon_registry
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import Call, FakeServer, Reply
from tests.collectors.hosted.dayrun import Day, day_settings
from tests.collectors.hosted.mirrorreads import MirrorReads
from tests.collectors.stores.fxiaoke import PERMANENT, SECRET, FakeFxiaoke, Kit, fxiaoke_log

START = datetime(2016, 3, 8, tzinfo=UTC)
STEP = timedelta(minutes=30)
SOURCE = "fxiaoke"
QUERY = "/cgi/crm/v2/data/query"


def config(url: str, queues: int = 3, **mirror: Any) -> FxiaokeConfig:
    source = Kit().config(url, {"queues": queues})
    source.update(
        app_secret=SECRET,
        app_secret_env=None,
        permanent_code=PERMANENT,
        permanent_code_env=None,
        interval="30m",
        min_interval="0s",
        mirror={"reconcile_every": "90m", **mirror},
    )
    return FxiaokeConfig.model_validate(source)


class Deleting:
    """The fake, with work orders deleted silently (gone from every answer)."""

    def __init__(self, fake: FakeFxiaoke) -> None:
        self.fake = fake
        self.deleted: set[str] = set()

    def __call__(self, call: Call) -> Reply:
        if self.deleted and call.path == QUERY:
            log = self.fake.log
            self.fake.log = type(log)(log.events[~log.events["id"].astype(str).isin(self.deleted)])
            try:
                return self.fake(call)
            finally:
                self.fake.log = log
        return self.fake(call)


@pytest.fixture
def fxiaoke() -> Iterator[tuple[FakeClock, Deleting, FakeServer]]:
    clock = FakeClock(START)
    app = Deleting(FakeFxiaoke(clock))
    with FakeServer(app) as server:
        yield clock, app, server


def mirrored(server: FakeServer, clock: FakeClock, store: sa.Engine, **mirror: Any) -> Any:
    made = FxiaokeCollector(config(server.url, **mirror), clock=lambda: clock().timestamp())
    made.attach_mirror(Mirror(store, SOURCE))
    return made


def poll(made: FxiaokeCollector, clock: FakeClock) -> Snapshot:
    clock.advance(STEP)
    return made.collect(Window(clock() - STEP, clock()))


def expected(made: FxiaokeCollector, window: Window) -> tuple[QueueStats, ...]:
    """pandas: every figure the polls without a mirror give, plus nearest-rank quantiles."""
    queues = [(q.value, q.name) for q in made.config.queues]
    plain = expected_queues(fxiaoke_log(), queues, window.start, window.end)
    state = fxiaoke_log().state_at(window.end)
    out = []
    for stats, (value, _name) in zip(plain, queues, strict=True):
        mine = state[(state["queue"] == value) & ~state["done"]]
        seconds = (pd.Timestamp(window.end) - mine["created"]).dt.total_seconds().to_numpy()
        quantiles = None
        if len(seconds):
            quantiles = {
                q: float(np.quantile(seconds, float(q), method="inverted_cdf"))
                for q in ("0.5", "0.9")
            }
        out.append(QueueStats(**{**stats.__dict__, "age_quantiles": quantiles}))
    return tuple(out)


def building(query: dict[str, Any]) -> bool:
    """A page of the mirror's build (open work orders by creation time, 100 a page, the
    ``total`` asked for the build's progress)."""
    info = query["search_query_info"]
    return info["limit"] == 100 and info.get("orders", [{}])[0].get("fieldName") == "create_time"


def queries(server: FakeServer, since: int = 0) -> list[dict[str, Any]]:
    return [(c.json() or {})["data"] for c in server.calls[since:] if c.path == QUERY and c.json()]


class TestFxiaokeMirror:
    def test_a_day_of_polls_equals_pandas_with_no_drift(
        self, store: sa.Engine, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
    ) -> None:
        clock, _app, server = fxiaoke
        made = mirrored(server, clock, store)
        checked = created = 0
        reconciled: set[str] = set()
        for i in range(48):  # the day, every 30 minutes
            before = len(server.calls)
            snapshot = poll(made, clock)
            assert snapshot.queues == expected(made, snapshot.window)
            checked += sum(q.open_total for q in snapshot.queues)
            created += sum(q.created or 0 for q in snapshot.queues)
            assert made.mirror_drift is not None
            assert set(made.mirror_drift.values()) == {0}
            reconciled |= set(made.mirror_drift)
            sent = queries(server, before)
            totals = [q for q in sent if q["find_explicit_total_num"] and not building(q)]
            # one queue a poll (3 queues every 90 minutes), limit 1 with the total
            assert len(totals) == 1 and totals[0]["search_query_info"]["limit"] == 1
            if i:  # after the first (the build), only the changed-since listing and a total
                listing = [q for q in sent if not q["find_explicit_total_num"]]
                assert all(
                    q["search_query_info"]["filters"][0]["field_name"] == "last_modified_time"
                    and q["search_query_info"]["orders"]
                    == [{"fieldName": "last_modified_time", "isAsc": True}]
                    and q["search_query_info"]["offset"] == 0
                    for q in listing
                )
                assert 1 <= len(listing) <= 3
        assert reconciled == {q.name for q in made.config.queues}
        assert checked > 5_000 and created > 100  # the real backlogs, not an empty case
        made.close()

    def test_polls_after_the_first_read_no_mirror_rows_back(
        self, store: sa.Engine, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
    ) -> None:
        """The first poll builds the mirror and reads its rows once (the index's load);
        the next polls read back only the rows of the work orders their listing changed
        (a write's lookup), and their figures are still pandas' (a queue reconciled each)."""
        clock, _app, server = fxiaoke
        made = mirrored(server, clock, store)
        with MirrorReads(store) as reads:
            poll(made, clock)
            first = len(reads.whole())
            looked_up = len(reads.lookups())
            for _ in range(4):
                snapshot = poll(made, clock)
                assert snapshot.queues == expected(made, snapshot.window)
        assert first == 1
        assert reads.whole()[first:] == []
        assert len(reads.lookups()) > looked_up  # the feed's changes were applied
        assert made.mirror_drift is not None and set(made.mirror_drift.values()) == {0}
        made.close()

    def test_a_work_order_moved_or_closed_between_polls(
        self, store: sa.Engine, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
    ) -> None:
        """Find two polls of the day between which the log moves an open work order to
        another of the queues and closes another: both show in the second poll exactly."""
        clock, _app, server = fxiaoke
        made = mirrored(server, clock, store)
        names = [q.value for q in made.config.queues]
        moved = closed = 0
        for _ in range(24):
            before = fxiaoke_log().state_at(clock()).set_index("id")
            snapshot = poll(made, clock)
            after = fxiaoke_log().state_at(clock()).set_index("id")
            both = before.index.intersection(after.index)
            was_open = ~before.loc[both, "done"] & before.loc[both, "queue"].isin(names)
            now_open = ~after.loc[both, "done"]
            moved += int(
                (
                    was_open
                    & now_open
                    & after.loc[both, "queue"].isin(names)
                    & (before.loc[both, "queue"] != after.loc[both, "queue"])
                ).sum()
            )
            closed += int((was_open & ~now_open).sum())
            assert snapshot.queues == expected(made, snapshot.window)
        assert moved >= 1 and closed >= 20
        made.close()

    def test_a_silent_deletion_is_drift_and_a_reset_rebuilds(
        self, store: sa.Engine, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
    ) -> None:
        clock, app, server = fxiaoke
        made = mirrored(server, clock, store, rebuild_above=1)
        for _ in range(18):  # to 09:00, each queue reconciled three times
            poll(made, clock)
        state = fxiaoke_log().state_at(clock() + STEP)
        queue = made.config.queues[0]
        open_ = state[(state["queue"] == queue.value) & ~state["done"]]
        app.deleted |= set(open_.sort_values("created")["id"].astype(str).head(3))
        for _ in range(3):  # the deletion is in no feed; the queue's turn comes
            drifted = poll(made, clock)
            assert made.mirror_drift is not None
            if made.mirror_drift[queue.name]:
                break
        assert {k: v for k, v in made.mirror_drift.items() if v} == {queue.name: 3}
        # that poll still reports the (drifted) mirror's figures, reset only after them
        assert drifted.queues == expected(made, drifted.window)
        assert Mirror(store, SOURCE).cursor() is None
        before = len(server.calls)
        snapshot = poll(made, clock)  # rebuilt: the open work orders listed by create_time
        build = [
            q
            for q in queries(server, before)
            if q["search_query_info"].get("orders") == [{"fieldName": "create_time", "isAsc": True}]
        ]
        assert len(build) >= 2  # paged: more than 100 open
        assert all(q["search_query_info"]["offset"] == 0 for q in build)
        assert build[1]["search_query_info"]["filters"][-1]["operator"] == "GTE"
        counts = {q.queue: q.open_total for q in snapshot.queues}
        held: dict[str, int] = {}
        for key, times in Mirror(store, SOURCE).created_times().items():
            name = key.split("\x1f", 1)[0]
            held[name] = held.get(name, 0) + len(times)
        assert held == {n: c for n, c in counts.items() if c}
        want = {q.queue: q.open_total for q in expected(made, snapshot.window)}
        assert counts[queue.name] == want[queue.name] - 3
        made.close()

    def test_without_a_mirror_attached_the_counts_are_read_per_queue(
        self, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
    ) -> None:
        clock, _app, server = fxiaoke
        made = FxiaokeCollector(config(server.url), clock=lambda: clock().timestamp())
        snapshot = poll(made, clock)
        plain = expected(made, snapshot.window)
        assert snapshot.queues == tuple(
            QueueStats(**{**q.__dict__, "age_quantiles": None}) for q in plain
        )
        assert all(q["find_explicit_total_num"] for q in queries(server))
        assert made.mirror_drift is None
        made.close()


def test_every_queue_is_reconciled_once_a_period() -> None:
    made = config("http://127.0.0.1:9", queues=20, reconcile_every="1h")
    settings = made.mirror
    assert settings is not None
    interval = timedelta(minutes=1)
    seen = [
        j
        for minute in range(60)
        for j in reconciled_at(START + minute * interval, 20, interval, settings)
    ]
    assert sorted(seen) == list(range(20))
    many = [
        reconciled_at(START + minute * interval, 500, interval, settings) for minute in range(60)
    ]
    assert sorted(j for js in many for j in js) == list(range(500))
    assert {len(js) for js in many} <= {8, 9}


def test_the_poll_cost_with_a_mirror() -> None:
    """20 queues every minute, 100 changes a minute, hourly: 2 pages and at most 1 total;
    500 queues, 300 changes, daily: 4 pages and 1."""
    small = config("http://127.0.0.1:9", queues=3).model_dump(mode="json", exclude_none=True)
    small.update(
        app_secret=SECRET,
        permanent_code=PERMANENT,
        interval="1m",
        queues=[{"value": str(i), "name": f"q{i}"} for i in range(20)],
        mirror={"reconcile_every": "1h"},
    )
    assert FxiaokeConfig.model_validate(small).poll_cost().requests == 2 + 1
    large = {
        **small,
        "queues": [{"value": str(i), "name": f"q{i}"} for i in range(500)],
        "peak_changes_per_minute": 300,
        "mirror": {"reconcile_every": "1d"},
    }
    assert FxiaokeConfig.model_validate(large).poll_cost().requests == 4 + 1


def test_mirror_settings_are_checked_with_their_path() -> None:
    with pytest.raises(ValidationError, match=r"mirror\.reconcile_every"):
        config("http://127.0.0.1:9", reconcile_every="0s")
    with pytest.raises(ValidationError, match=r"mirror\.rebuild_above"):
        config("http://127.0.0.1:9", rebuild_above=0)
    with pytest.raises(ValidationError, match=r"mirror\.unknown"):
        config("http://127.0.0.1:9", unknown=1)


def test_the_daemon_attaches_the_mirror_and_exports_the_drift(
    store: sa.Engine, fxiaoke: tuple[FakeClock, Deleting, FakeServer]
) -> None:
    """The daemon attaches the mirror in its own store; after a silent deletion in the
    queue whose turn it is, the drift is on /metrics (the other queues as last measured)."""
    clock, app, server = fxiaoke
    made = FxiaokeCollector(config(server.url), clock=lambda: clock().timestamp())
    source = made.config.model_dump(mode="json", exclude_none=True)
    source.update(app_secret=SECRET, permanent_code=PERMANENT)
    plan = Day(START, (START, START), SOURCE, made.config.queues[0].name, "R", 1e9, 1e9 - 1)
    daemon = Daemon(
        day_settings(plan, source),
        clock=clock,
        collectors={SOURCE: made},
        engine=store,
        speedup=1e9,
    )
    daemon.migrate()
    try:
        for _ in range(3):  # each queue reconciled once
            clock.advance(STEP)
            assert daemon.poll(SOURCE)
        turn = int((clock() + STEP).timestamp() // STEP.total_seconds()) % 3
        queue = made.config.queues[turn]  # the next poll's turn (3 queues, 3 slots)
        state = fxiaoke_log().state_at(clock() + STEP)
        open_ = state[(state["queue"] == queue.value) & ~state["done"]]
        app.deleted.add(str(open_.sort_values("created")["id"].iloc[0]))
        clock.advance(STEP)
        assert daemon.poll(SOURCE)
        drift = {
            s.labels["queue"]: s.value
            for f in daemon_registry(daemon).collect()
            if f.name == "backlog_collector_mirror_drift"
            for s in f.samples
        }
        assert drift == {q.name: (1.0 if q == queue else 0.0) for q in made.config.queues}
        assert Mirror(store, SOURCE).last_drift()[1] == {k: int(v) for k, v in drift.items()}
    finally:
        daemon.close()
    # a restart: the drift as last measured is exported before each queue's turn comes
    again = FxiaokeCollector(config(server.url), clock=lambda: clock().timestamp())
    again.attach_mirror(Mirror(store, SOURCE))
    try:
        poll(again, clock)
        assert again.mirror_drift is not None and again.mirror_drift[queue.name] == 1
    finally:
        again.close()


def test_a_tenant_without_the_modified_field_is_a_clear_error(store: sa.Engine) -> None:
    clock = FakeClock(START)
    with FakeServer(FakeFxiaoke(clock, missing_field="last_modified_time")) as server:
        made = mirrored(server, clock, store)
        with pytest.raises(MappingError, match="mirror -> modified_field: CasesObj has no field"):
            poll(made, clock)
        assert Mirror(store, SOURCE).cursor() is None  # nothing read, nothing applied
        made.close()


def test_the_documented_mirror_block_loads() -> None:
    """docs/hosted/fxiaoke.md's ``mirror:`` block, added to a source, validates as shown."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "hosted" / "fxiaoke.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "mirror:" in b)
    extra = yaml.safe_load(textwrap.dedent(block))
    made = config("http://127.0.0.1:9", **extra["mirror"])
    assert made.mirror is not None and made.mirror.reconcile_every == timedelta(days=1)
    assert made.mirror.rebuild_above == 5 and extra["peak_changes_per_minute"] == 300
