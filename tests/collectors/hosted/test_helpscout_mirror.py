"""Help Scout with ``mirror:``: the aging figures from a local mirror of the open
conversations, against the fake Help Scout fed from the ServiceNow log (8 March 2016).

Six mailboxes polled every 5 minutes with ``folder_rotation: 15m`` and a build of at
most 10 pages a poll, the daemon "restarted" (a new collector over the same mirror)
after the second poll, in the middle of the build. Checked against pandas over the
log: until the build ends the aging figures are absent; after it, every mailbox's
7/14/30-day counts, oldest age and median/90th-percentile ages are those of the log at
each poll (not at the mailbox's last folder read), while open, unassigned and
per-agent figures are those of its last read (the reads taken from the folder requests
the fake received) and created/resolved those of the window; no aging request is sent;
the drift is 0 for every mailbox. A conversation closed without showing in the
``modifiedSince`` listing is drift +1 in its mailbox, and with ``rebuild_above`` the
mirror is rebuilt and right again. Through the daemon: a day with 20 mailboxes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from collectors.base import QueueStats, Window
from collectors.helpscout import HelpScoutCollector, HelpScoutConfig
from collectors.helpscoutmirror import build_polls
from collectors.hosted.mirror import Change, Mirror
from monitor.clock import FakeClock
from monitor.store.engine import migrate, open_store
from tests.collectors.expected import expected_queues
from tests.collectors.fakeserver import Call, FakeServer
from tests.collectors.hosted.dayrun import captured_logs
from tests.collectors.hosted.mirrorreads import MirrorReads
from tests.collectors.hosted.test_helpscout_config import check
from tests.collectors.hosted.test_helpscout_rotation import Hours, helpscout_day, poll_at
from tests.collectors.stores.helpscout import (
    SECRET,
    FakeHelpScout,
    Kit,
    helpscout_log,
    mailbox_ids,
)

START = datetime(2016, 3, 8, 10, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)
BOXES = 6
POLLS = 16
RESTART_AFTER = 2
BUILD_PAGES = 5
SOURCE = "hs"
BASE = {"kind": "helpscout", "name": "hs", "client_id": "x", "client_secret": "s"}
FOLDERS = re.compile(r"/v2/mailboxes/(\d+)/folders")


def source(url: str, boxes: int = BOXES, **mirror: Any) -> dict[str, Any]:
    made = Kit().config(url, {"queues": boxes})
    made.update(
        name=SOURCE,
        client_secret=SECRET,
        client_secret_env=None,
        interval="5m",
        folder_rotation="15m",
        mirror=mirror,
    )
    return made


def kind(call: Call) -> str:
    if FOLDERS.fullmatch(call.path):
        return "folders"
    if call.arg("modifiedSince"):
        return "listing"
    if call.arg("status") == "open" and (call.arg("query") or "").startswith("(createdAt:["):
        return "build"
    return "other"


def aging(box: str, end: datetime) -> dict[str, Any]:
    """pandas: the mailbox's aging figures at ``end`` (numpy for the quantiles)."""
    (now,) = expected_queues(helpscout_log(), [(box, box)], end, end)
    state = helpscout_log().state_at(end)
    mine = state[(state["queue"] == box) & ~state["done"]]
    seconds = (pd.Timestamp(end) - mine["created"]).dt.total_seconds().to_numpy()
    quantiles = None
    if len(seconds):
        quantiles = {
            q: float(np.quantile(seconds, float(q), method="inverted_cdf")) for q in ("0.5", "0.9")
        }
    return {
        "older_than": now.older_than,
        "oldest_age_s": now.oldest_age_s,
        "age_quantiles": quantiles,
    }


def expected(config: Any, box: str, window: Window, read: datetime, built: bool) -> QueueStats:
    """pandas: counts at the last read, flow of the window, aging now (once built)."""
    (at_read,) = expected_queues(helpscout_log(), [(box, box)], read, read, aging=False)
    (flow,) = expected_queues(helpscout_log(), [(box, box)], window.start, window.end)
    at_read = Kit().expected(config, Window(read, read), at_read)
    figures = {**at_read.__dict__, "created": flow.created, "resolved": flow.resolved}
    if built:
        figures.update(aging(box, window.end))
    return QueueStats(**figures)


def open_pages(names: list[str], at: datetime) -> int:
    """Pages of 25 the open conversations of ``names`` fill at ``at``."""
    state = helpscout_log().state_at(at)
    return -(-int((state["queue"].isin(names) & ~state["done"]).sum()) // 25)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    made = open_store(f"sqlite:///{tmp_path_factory.mktemp('hs-mirror')}/history.db")
    migrate(made)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def run(engine: sa.Engine) -> dict[str, Any]:
    """Sixteen polls, the collector replaced after the second (a restart mid-build)."""
    clock = FakeClock(START)
    polls: list[dict[str, Any]] = []
    mirror = Mirror(engine, SOURCE)
    with FakeServer(FakeHelpScout(clock)) as server:
        config = HelpScoutConfig.model_validate(source(server.url, build_pages=BUILD_PAGES))
        collector = None
        try:
            for n in range(POLLS):
                if n in (0, RESTART_AFTER):
                    if collector is not None:
                        collector.close()
                    collector = HelpScoutCollector(config, clock=lambda: clock().timestamp())
                    collector.attach_mirror(mirror)
                assert collector is not None
                with MirrorReads(engine) as reads:
                    poll = poll_at(collector, server, clock, START + n * INTERVAL)
                building = mirror.build_from() is not None
                polls.append(
                    {
                        **poll,
                        "building": building,
                        "drift": collector.mirror_drift,
                        "whole_reads": len(reads.whole()),
                        "lookups": len(reads.lookups()),
                    }
                )
        finally:
            if collector is not None:
                collector.close()
    return {"config": config, "polls": polls, "mirror": mirror}


class TestMirrorConfig:
    def test_mirror_needs_aging(self) -> None:
        with pytest.raises(ValidationError, match="mirror: gives the aging figures"):
            HelpScoutConfig.model_validate(
                {**BASE, "mailboxes": [{"id": 1, "name": "a"}], "aging": False, "mirror": {}}
            )

    def test_build_pages_over_the_budget_are_refused(self) -> None:
        """At 1-minute polls this daemon may send 100 requests; 2 + 99 is over."""
        settings = {**BASE, "mailboxes": [{"id": 1, "name": "a"}], "interval": "1m"}
        with pytest.raises(ValidationError, match=r"mirror -> build_pages: .* 101 requests"):
            HelpScoutConfig.model_validate({**settings, "mirror": {"build_pages": 99}})
        config = HelpScoutConfig.model_validate({**settings, "mirror": {"build_pages": 98}})
        assert config.build_pages_per_poll() == 98

    def test_cost_at_500_mailboxes_is_the_references(self) -> None:
        """The reference's plan: 50 folder requests a poll and the listing (12 pages at
        300 changes a minute): 62 a minute with aging; the build gets what is left."""
        config = HelpScoutConfig.model_validate(
            {
                **BASE,
                "mailboxes": [{"id": 1 + i, "name": f"m{i}"} for i in range(500)],
                "interval": "1m",
                "folder_rotation": "10m",
                "expected_pages": 12,
                "mirror": {},
            }
        )
        assert config.poll_cost().requests == 62
        assert config.build_pages_per_poll() == 100 - 62
        assert build_polls(200_000, 38) == 211  # 8,001 pages: about 3.5 hours at 1-minute polls


class TestMirrorAgainstTheFake:
    def test_the_build_is_spread_over_polls_and_survives_a_restart(
        self, run: dict[str, Any]
    ) -> None:
        polls = run["polls"]
        names = [m.name for m in run["config"].mailboxes]
        builds = [sum(kind(c) == "build" for c in p["sent"]) for p in polls]
        done = next(i for i, p in enumerate(polls) if not p["building"])
        # the build was under way at the restart and went on from where it was
        assert done > RESTART_AFTER and all(p["building"] for p in polls[:done])
        assert all(0 < b <= BUILD_PAGES for b in builds[: done + 1])
        assert builds[done + 1 :] == [0] * (POLLS - done - 1)
        # each page starts at the last one's newest createdAt: ties are read again,
        # and the pages read are at most one more a poll than the open conversations fill
        total = sum(builds)
        assert open_pages(names, START) <= total <= open_pages(names, START) + done + 1
        bounds = [c.arg("query") for p in polls for c in p["sent"] if kind(c) == "build"]
        assert bounds[0] == "(createdAt:[1970-01-01T00:00:00Z TO *])"
        assert bounds == sorted(bounds) and len(set(bounds)) >= total - 2

    def test_figures_equal_pandas(self, run: dict[str, Any]) -> None:
        """Before the build ends: no aging figures. After: aging of the poll's instant;
        counts of the mailbox's last folder read; flow of the window."""
        config, polls = run["config"], run["polls"]
        names = {m.id: m.name for m in config.mailboxes}
        last_read: dict[str, datetime] = {}
        fresh_aging = 0
        for n, poll in enumerate(polls):
            window = poll["window"]
            for call in poll["sent"]:
                found = FOLDERS.fullmatch(call.path)
                if found is not None:
                    last_read[names[int(found.group(1))]] = window.end
            built = not poll["building"]
            for got in poll["snapshot"].queues:
                read = last_read[got.queue]
                want = expected(config, got.queue, window, read, built)
                assert got == want, f"poll {n}, {got.queue}: {got} != {want}"
                fresh_aging += built and read < window.end
        assert fresh_aging >= 40  # aging current where the folder counts are held

    def test_no_aging_request_is_sent(self, run: dict[str, Any]) -> None:
        """Folders (all six at each collector's first poll, then two), the listing's
        pages and the build's: nothing else."""
        for n, poll in enumerate(run["polls"]):
            kinds = Counter(kind(c) for c in poll["sent"])
            assert kinds["other"] == 0
            assert kinds["folders"] == (BOXES if n in (0, RESTART_AFTER) else 2)
            assert kinds["listing"] >= 1
        config = run["config"]
        assert config.poll_cost().requests == 2 + 1

    def test_polls_after_the_build_read_no_mirror_rows_back(self, run: dict[str, Any]) -> None:
        """The poll that ends the build reads the mirror's rows once (the index's load,
        for the aging and the reconciliation both); the polls after it read back only the
        rows of the conversations their listing changed (a write's lookup)."""
        polls = run["polls"]
        done = next(i for i, p in enumerate(polls) if not p["building"])
        assert [p["whole_reads"] for p in polls] == [0] * done + [1] + [0] * (POLLS - done - 1)
        assert all(p["lookups"] >= 1 for p in polls[done + 1 :])  # the feed was applied

    def test_drift_is_zero_for_every_mailbox(self, run: dict[str, Any]) -> None:
        polls = run["polls"]
        done = next(i for i, p in enumerate(polls) if not p["building"])
        assert all(p["drift"] is None for p in polls[:done])
        last = polls[-1]["drift"]
        assert last == {m.name: 0 for m in run["config"].mailboxes}
        assert all(set(p["drift"].values()) == {0} for p in polls[done + 1 :])
        # the mirror holds the log's open conversations of the six at the last poll
        state = helpscout_log().state_at(polls[-1]["window"].end)
        names = [m.name for m in run["config"].mailboxes]
        held = {q: len(t) for q, t in run["mirror"].created_times().items()}
        want = state[state["queue"].isin(names) & ~state["done"]].groupby("queue").size()
        assert held == {str(q): int(k) for q, k in want.items()}


def closed_later(names: list[str], after: datetime, before: datetime) -> tuple[str, str]:
    """A conversation of ``names`` open at ``after`` and closed before ``before``."""
    log = helpscout_log()
    then, later = log.state_at(after), log.state_at(before)
    opened = set(then[then["queue"].isin(names) & ~then["done"]]["id"])
    closed = later[later["id"].isin(opened) & later["done"]]
    row = closed.sort_values("resolved").iloc[0]
    return str(row["id"]), str(row["queue"])


def test_a_change_the_listing_misses_is_drift_and_a_rebuild_mends_it(store: sa.Engine) -> None:
    """The fake never lists one conversation's changes: once it closes, its mailbox's
    mirror count is one over the folders'; ``rebuild_above: 0`` rebuilds the mirror at
    the next poll, after which the drift is 0 and the aging figures pandas' again."""
    clock = FakeClock(START)
    names = [m["name"] for m in Kit().config("x", {"queues": BOXES})["mailboxes"]]
    hidden, box = closed_later(names, START, START + timedelta(hours=2))
    fake = FakeHelpScout(clock, unlisted={hidden})
    drifts: list[dict[str, int] | None] = []
    with FakeServer(fake) as server:
        settings = source(server.url, rebuild_above=0)
        settings.pop("folder_rotation")  # every mailbox read every poll
        config = HelpScoutConfig.model_validate(settings)
        collector = HelpScoutCollector(config, clock=lambda: clock().timestamp())
        collector.attach_mirror(Mirror(store, SOURCE))
        try:
            for n in range(1, 30):
                clock.now = START + n * INTERVAL
                snapshot = collector.collect(Window(clock.now - INTERVAL, clock.now))
                drifts.append(collector.mirror_drift)
        finally:
            collector.close()
    state = helpscout_log().state_at(START + 29 * INTERVAL)
    assert bool(state[state["id"] == hidden]["done"].iloc[0])
    off = [i for i, d in enumerate(drifts) if d and any(d.values())]
    assert off, "the missed closure never showed as drift"
    first = off[0]
    assert drifts[first] == {n: (1 if n == box else 0) for n in names}
    # the poll after it rebuilds (no figures while it builds, the drift kept), then right
    later = [d for d in drifts[first + 1 :] if d is not None]
    assert later and later[-1] == dict.fromkeys(names, 0)
    for got in snapshot.queues:
        assert {k: getattr(got, k) for k in ("older_than", "oldest_age_s", "age_quantiles")} == (
            aging(got.queue, clock.now)
        )


def test_through_the_daemon_within_the_budget(tmp_path: Path) -> None:
    """Twenty mailboxes, ``folder_rotation: 15m`` (7 a poll), the mirror built 20 pages a
    poll, half of Help Scout's 200 a minute: every poll succeeds, no minute goes over
    100 requests, the day's counters equal pandas', the drift metric is 0 for every
    mailbox and the aging gauges reach /metrics."""
    start = datetime(2016, 3, 8, tzinfo=UTC)
    clock = FakeClock(start)
    fake = FakeHelpScout(clock, per_minute=200)
    with captured_logs() as records, FakeServer(fake) as server:
        made = source(server.url, boxes=20, build_pages=20)
        made["budget"] = {"requests_per_minute": 200, "share": 0.5}
        first = made["mailboxes"][0]["name"]
        plan = Hours(start, (start, start), SOURCE, first, "Never", 1e9, 1e9, hours=12)
        day = helpscout_day(plan, tmp_path, clock, server, records, made)
    assert len(day["polls"]) == 144 and all(ok for _, ok, _ in day["polls"])
    assert max(fake.minute_calls.values()) <= 100
    builds = [sum(kind(c) == "build" for c in day["calls"])]
    assert builds[0] > 20  # built over several polls
    created = resolved = 0
    begin = pd.Timestamp(start - timedelta(hours=1))  # the first poll's first_window
    for instant, _ok, _sent in day["polls"]:
        state = helpscout_log().state_at(instant)
        mine = state[state["queue"] == first]
        end = pd.Timestamp(instant)
        created += int(((mine["created"] >= begin) & (mine["created"] < end)).sum())
        resolved += int(((mine["resolved"] >= begin) & (mine["resolved"] < end)).sum())
        begin = end
    counters = day["counters"][first]
    assert (counters["created_total"], counters["resolved_total"]) == (created, resolved)
    drift = [
        line
        for line in day["metrics"].splitlines()
        if line.startswith("backlog_collector_mirror_drift{")
    ]
    assert len(drift) == 20 and all(line.endswith(" 0.0") for line in drift)
    for family in (
        "backlog_oldest_ticket_age_seconds",
        "backlog_open_tickets_older_than",
        "backlog_ticket_age_seconds",
    ):
        assert [
            line
            for line in day["metrics"].splitlines()
            if line.startswith(f"{family}{{") and f'queue="{first}"' in line
        ], family
    assert mailbox_ids()[first] == made["mailboxes"][0]["id"]


def test_check_config_takes_the_documented_mirror_and_refuses_it_without_aging(
    tmp_path: Path,
) -> None:
    """The example with docs/hosted/helpscout.md's ``mirror:`` lines; with ``aging:
    false`` too, exit 2 naming the source."""
    mirrored = "interval: 5m\n    folder_rotation: 15m\n    mirror: {rebuild_above: 10}"
    fine = check(tmp_path, ("interval: 5m", mirrored))
    assert fine.returncode == 0, fine.stderr
    bad = check(tmp_path, ("interval: 5m", f"{mirrored}\n    aging: false"))
    assert bad.returncode == 2
    assert "sources -> 0" in bad.stderr and "mirror: gives the aging figures" in bad.stderr


@pytest.mark.parametrize("database", ["store", "pg_database", "mariadb_database"])
def test_a_build_in_slices_on_each_database(database: str, request: pytest.FixtureRequest) -> None:
    """``Mirror.apply_build``/``build_from`` over the log's open conversations in slices
    of 100, on SQLite, PostgreSQL and MariaDB: the resume point is kept per source, the
    cursor is left alone, the end of the build and a reset clear it, and the mirror holds
    pandas' open conversations."""
    found = request.getfixturevalue(database)
    engine = found if isinstance(found, sa.Engine) else open_store(found)
    try:
        migrate(engine)
        state = helpscout_log().state_at(START)
        opened = state[~state["done"]].sort_values(["created", "id"])
        changes = [
            Change(str(r.id), str(r.queue), r.created.to_pydatetime(), START, True)
            for r in opened.itertuples()
        ]
        mirror, other = Mirror(engine, "hs-build"), Mirror(engine, "hs-other")
        assert mirror.build_from() is None
        mirror.apply_build([], START - timedelta(days=365))
        other.apply_build([], START)
        for i in range(0, len(changes), 100):
            part = changes[i : i + 100]
            last = i + 100 >= len(changes)
            mirror.apply_build(part, None if last else part[-1].created_at)
            if not last:
                assert mirror.build_from() == part[-1].created_at
        assert mirror.build_from() is None and mirror.cursor() is None
        assert other.build_from() == START
        want = opened.groupby("queue").size()
        assert mirror.open_counts() == {str(q): int(n) for q, n in want.items()}
        other.apply([], START)
        other.reset()
        assert other.build_from() is None and other.cursor() is None
        assert sum(mirror.open_counts().values()) == len(changes)
    finally:
        if not isinstance(found, sa.Engine):
            engine.dispose()
