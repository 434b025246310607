"""The hosted mirror (collectors/hosted/mirror.py) fed by a changed-since feed replayed
from a real log (the BPI 2013 Volvo incidents as Zoho Desk tickets), checked against
pandas over the log's state at each instant; drift after a missed change; the same on
PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from collectors.hosted.mirror import (
    Change,
    CreatedIndex,
    Mirror,
    age_quantile,
    aging,
    drift,
    quantile,
    sorted_aging,
)
from monitor.store.engine import migrate, open_store
from tests.collectors.stores.zohodesk import volvo_log
from tests.collectors.ticketlog import TicketLog

END = datetime(2012, 5, 2, 10, tzinfo=UTC)
START = END - timedelta(hours=24)
STEP = timedelta(hours=1)


@pytest.fixture(scope="module")
def log() -> TicketLog:
    return volvo_log()


def changes_between(log: TicketLog, start: datetime | None, end: datetime) -> list[Change]:
    """What a changed-since listing at ``end`` shows (every ticket when ``start`` is None)."""
    state = log.state_at(end)
    if start is not None:
        state = state[state["modified"] >= pd.Timestamp(start)]
    return [
        Change(
            str(r.id),
            str(r.queue),
            r.created.to_pydatetime(),
            r.modified.to_pydatetime(),
            not bool(r.done),
        )
        for r in state.itertuples()
    ]


def expected_open(log: TicketLog, at: datetime) -> pd.DataFrame:
    state = log.state_at(at)
    return state[~state["done"]]


def replay(mirror: Mirror, log: TicketLog) -> Iterator[datetime]:
    """The first read lists everything; then one changed-since read an hour."""
    mirror.apply(changes_between(log, None, START), START)
    at = START
    while at < END:
        cursor = mirror.cursor()
        at += STEP
        mirror.apply(changes_between(log, cursor, at), at)
        yield at


class TestFedByTheLog:
    def test_counts_and_ages_equal_pandas_every_hour(
        self, store: sa.Engine, log: TicketLog
    ) -> None:
        mirror = Mirror(store, "zoho")
        checked = 0
        for at in replay(mirror, log):
            open_ = expected_open(log, at)
            assert mirror.open_counts() == open_.groupby("queue").size().to_dict()
            ages = mirror.ages(at)
            for queue, rows in open_.groupby("queue"):
                seconds = (pd.Timestamp(at) - rows["created"]).dt.total_seconds().to_numpy()
                got = ages[str(queue)]
                assert got.count == len(rows)
                assert got.oldest_seconds == seconds.max()
                assert got.median_seconds == np.quantile(seconds, 0.5, method="inverted_cdf")
                assert got.p90_seconds == np.quantile(seconds, 0.9, method="inverted_cdf")
            checked += len(open_)
        assert checked > 10_000  # a real day: thousands of open tickets each hour

    def test_reconciled_against_the_store_drift_is_zero_then_shows_a_missed_change(
        self, store: sa.Engine, log: TicketLog
    ) -> None:
        mirror = Mirror(store, "zoho")
        for _ in replay(mirror, log):
            pass
        totals = expected_open(log, END).groupby("queue").size().to_dict()
        assert set(mirror.reconcile(totals, END).values()) == {0}
        # The store closes a ticket the feed never lists (a merge): the mirror is one high.
        queue = max(totals, key=lambda q: totals[q])
        store_now = {**totals, queue: totals[queue] - 1}
        found = mirror.reconcile(store_now, END + STEP)
        assert {q: d for q, d in found.items() if d} == {queue: 1}
        assert mirror.last_drift() == (END + STEP, found)

    def test_a_stale_change_is_ignored_and_the_cursor_never_goes_back(
        self, store: sa.Engine
    ) -> None:
        mirror = Mirror(store, "s")
        t = datetime(2026, 1, 1, tzinfo=UTC)
        mirror.apply([Change("1", "A", t, t + timedelta(minutes=5), True)], t + STEP)
        # an older listing page arrives late: the ticket had been moved, then closed
        applied = mirror.apply([Change("1", "B", t, t + timedelta(minutes=1), True)], t)
        assert applied == 0
        assert mirror.open_counts() == {"A": 1}
        assert mirror.cursor() == t + STEP
        mirror.apply([Change("1", "A", t, t + timedelta(minutes=9), False)], t + 2 * STEP)
        assert mirror.open_counts() == {}
        mirror.reset()
        assert mirror.cursor() is None

    def test_the_index_kept_by_the_writes_equals_the_tables_every_hour(
        self, store: sa.Engine, log: TicketLog
    ) -> None:
        """The index is read once, then kept by each hour's writes (tickets moving between
        teams, closing, opening): each hour it equals an index read afresh from the tables
        and pandas' open tickets, grouped as asked (two teams as one group, one team in
        none: counted, in no group)."""
        mirror = Mirror(store, "zoho")
        teams = [str(t) for t in log.events["queue"].value_counts().index]
        groups = {t: t for t in teams[2:-1]} | {teams[0]: "both", teams[1]: "both"}
        index: CreatedIndex | None = None
        checked = 0
        for at in replay(mirror, log):
            index = index or mirror.created_index(groups)
            assert mirror.created_index(groups) is index  # kept, not read again
            fresh = Mirror(store, "zoho").created_index(groups)
            open_ = expected_open(log, at)
            assert index.counts() == fresh.counts() == open_.groupby("queue").size().to_dict()
            open_ = open_.assign(group=open_["queue"].map(groups)).dropna(subset=["group"])
            for group, rows in open_.groupby("group"):
                want = sorted(rows["created"].dt.to_pydatetime())
                assert list(index.created(str(group))) == list(fresh.created(str(group))) == want
                assert sorted_aging(index.created(str(group)), at) == aging(want, at)
                checked += len(rows)
            assert index.created(teams[-1]) == ()
        assert checked > 10_000
        # another grouping reads the tables again; a reset empties the index
        assert mirror.created_index({teams[0]: teams[0]}) is not index
        mirror.reset()
        assert mirror.created_index(groups).counts() == {}

    def test_sources_are_apart(self, store: sa.Engine) -> None:
        t = datetime(2026, 1, 1, tzinfo=UTC)
        Mirror(store, "a").apply([Change("1", "Q", t, t, True)], t)
        Mirror(store, "b").apply([Change("1", "Q", t, t, True), Change("2", "Q", t, t, True)], t)
        assert (Mirror(store, "a").open_counts(), Mirror(store, "b").open_counts()) == (
            {"Q": 1},
            {"Q": 2},
        )


def test_drift_and_quantile() -> None:
    assert drift({"A": 3, "B": 1}, {"A": 2, "C": 4}) == {"A": 1, "B": 1, "C": -4}
    assert quantile([], 0.5) is None
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0


def test_an_index_that_does_not_hold_a_removed_row_says_so() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    index = CreatedIndex({"A\x1fopen": "A"}, [("A\x1fopen", t), ("B", t)])
    assert (index.counts(), list(index.created("A"))) == ({"A\x1fopen": 1, "B": 1}, [t])
    index.update([("B", t)], [("A\x1fopen", t - STEP)])
    assert (index.counts(), list(index.created("A"))) == ({"A\x1fopen": 2}, [t - STEP, t])
    for absent in [("B", t), ("A\x1fopen", t + STEP)]:
        with pytest.raises(KeyError):
            index.update([absent], [])


@given(
    st.lists(st.datetimes(max_value=datetime(2030, 1, 1)), max_size=40),
    st.sampled_from([0.1, 0.5, 0.9, 1.0]),
)
def test_the_quantile_of_sorted_times_is_the_quantile_of_their_ages(
    naive: list[datetime], q: float
) -> None:
    times = sorted(t.replace(tzinfo=UTC) for t in naive)
    end = datetime(2030, 1, 2, tzinfo=UTC)
    assert age_quantile(times, end, q) == quantile(
        sorted((end - t).total_seconds() for t in times), q
    )


@pytest.mark.parametrize("database", ["pg_database", "mariadb_database"])
def test_on_postgresql_and_mariadb(
    database: str, request: pytest.FixtureRequest, log: TicketLog
) -> None:
    engine = open_store(request.getfixturevalue(database))
    try:
        migrate(engine)
        mirror = Mirror(engine, "zoho")
        mirror.apply(changes_between(log, None, START), START)
        teams = log.events["queue"].astype(str).unique()
        index = mirror.created_index({t: t for t in teams})  # then kept by the writes
        mirror.apply(changes_between(log, START, END), END)
        open_ = expected_open(log, END)
        assert mirror.open_counts() == open_.groupby("queue").size().to_dict()
        oldest = (pd.Timestamp(END) - open_["created"]).dt.total_seconds().max()
        assert max(a.oldest_seconds or 0 for a in mirror.ages(END).values()) == oldest
        times = mirror.created_times()
        assert times == {
            str(q): sorted(rows["created"].dt.to_pydatetime()) for q, rows in open_.groupby("queue")
        }
        assert {q: list(index.created(q)) for q in times} == times
        assert index.counts() == mirror.open_counts()
        assert mirror.cursor() == END
        # a rotating reconciliation: each call keeps the queues it measured, the rest held
        assert mirror.record_drift({"A": 2}, START) == {"A": 2}
        assert mirror.record_drift({"B": -1, "A": 0}, END) == {"A": 0, "B": -1}
        assert mirror.last_drift() == (END, {"A": 0, "B": -1})
        assert mirror.cursor() == END
    finally:
        engine.dispose()
