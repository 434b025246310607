"""The offset changes of a zone, and durations between naive local times across them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from collectors.base import Window
from collectors.sql import SqlCollector
from collectors.zones import offset_seconds, transitions
from tests.collectors.conftest import store_state

BERLIN = "Europe/Berlin"


class TestTransitions:
    def test_berlin_2016(self) -> None:
        """Berlin changed at 01:00 UTC on 27 March (+1 h -> +2 h) and 30 October 2016."""
        changes = transitions(BERLIN, 2016, 2016)
        assert [(c.at, c.before, c.after) for c in changes] == [
            (datetime(2016, 3, 27, 1, tzinfo=UTC), 3600, 7200),
            (datetime(2016, 10, 30, 1, tzinfo=UTC), 7200, 3600),
        ]

    def test_fixed_zones_have_none(self) -> None:
        """UTC and a zone without summer time have no change to correct."""
        assert transitions("UTC", 2000, 2030) == ()
        assert transitions("America/Sao_Paulo", 2020, 2030) == ()  # no DST since 2019

    def test_local_bound_reads_like_python_fold_0(self) -> None:
        """The first local time with the new offset is where Python (fold=0) says so."""
        zone = ZoneInfo(BERLIN)
        for change in transitions(BERLIN, 2016, 2016):
            first = change.local_from
            before = first - timedelta(seconds=1)
            assert offset_seconds(zone, first.replace(tzinfo=zone)) == change.after
            assert offset_seconds(zone, before.replace(tzinfo=zone)) == change.before
            assert change.bound_instant.astimezone(zone).replace(tzinfo=None) == first


class TestDurationsAcrossChanges:
    def test_average_resolution_is_elapsed_time(
        self,
        incidents: pd.DataFrame,
        db_url: str,
        load_tickets: Callable[[pd.DataFrame], None],
        make_collector: Callable[..., SqlCollector],
    ) -> None:
        """Real incidents stored in Berlin local time, on each engine: the average
        resolution time equals the elapsed UTC time, also for tickets that straddle the
        change of 27 March 2016."""
        as_of = datetime(2016, 3, 29, 12, tzinfo=UTC)
        zone = ZoneInfo(BERLIN)
        local = as_of.astimezone(zone).replace(tzinfo=None)
        table = store_state(incidents, local)
        load_tickets(table)
        collector = make_collector(db_url, timezone=BERLIN)
        window = Window(as_of - timedelta(days=3), as_of)

        snapshot = collector.collect(window)

        def utc(column: pd.Series) -> pd.Series:
            return column.dt.tz_localize(zone, ambiguous=False, nonexistent="shift_forward")

        start, end = (w.astimezone(zone).replace(tzinfo=None) for w in (window.start, window.end))
        done = table[(table["resolved_at"] >= start) & (table["resolved_at"] < end)]
        took = (utc(done["resolved_at"]) - utc(done["opened_at"])).dt.total_seconds()
        straddle = done[utc(done["opened_at"]) < datetime(2016, 3, 27, 1, tzinfo=UTC)]
        assert len(straddle) > 0  # the case under test is in the data
        expected = took.groupby(done["assignment_group"]).mean()
        got = {q.queue: q.avg_resolution_s for q in snapshot.queues if q.resolved}
        assert got.keys() == set(expected.index)
        for queue, seconds in expected.items():
            assert abs(got[queue] - seconds) < 1e-3, queue
