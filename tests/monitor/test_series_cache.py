"""``history.SeriesCache`` gives what ``history.series`` gives, tick after tick, per backend."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.store import history
from monitor.store.schema import snapshots
from tests.fakes import T0

HORIZON = timedelta(hours=2)
MIN = timedelta(minutes=1)


def row(ts: datetime, queue: str = "q", open_total: int = 1) -> dict[str, Any]:
    return {
        "source": "s",
        "queue": queue,
        "ts": ts,
        "window_start": ts - MIN,
        "open_total": open_total,
        "open_breakdown": [["open", "P1", open_total]],
        "created": 1,
        "resolved": 0,
        "older_than": {"7d": 0},
    }


def insert(engine: sa.Engine, *rows: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(snapshots.insert(), list(rows))


def minutes(engine: sa.Engine, first: int, last: int, queues: tuple[str, ...] = ("a", "b")) -> None:
    """One row per queue per minute, ``T0 + first .. T0 + last`` minutes."""
    insert(engine, *(row(T0 + m * MIN, q, m) for m in range(first, last + 1) for q in queues))


def check(engine: sa.Engine, cache: history.SeriesCache, end: datetime) -> dict[Any, Any]:
    """The cache's answer at ``end``, asserted equal to a fresh read."""
    with engine.connect() as conn:
        got = cache.series(conn, end - HORIZON, end)
        expected = history.series(conn, end - HORIZON, end)
    assert got == expected
    return got


def tick(engine: sa.Engine, cache: history.SeriesCache, end: datetime) -> dict[Any, Any]:
    with engine.connect() as conn:
        return cache.series(conn, end - HORIZON, end)


class TestSeriesCache:
    def test_new_rows_are_added_incrementally(self, engine: sa.Engine) -> None:
        """After the first load, new minutes come in without a full reload."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        for m in range(131, 136):
            minutes(engine, m, m)
            got = check(engine, cache, T0 + m * MIN)
            assert [r["ts"] for r in got[("s", "a")]][-1] == T0 + m * MIN
        assert cache.full_reloads == 1

    def test_late_row_inside_the_overlap_takes_its_place(self, engine: sa.Engine) -> None:
        """A row committed after a tick, with an older ts (out of order), is picked up and
        sorted in by (ts, id), ties included; still no full reload."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        minutes(engine, 131, 131)
        insert(engine, row(T0 + 128 * MIN + timedelta(seconds=30), "a", 999))  # out of order
        insert(engine, row(T0 + 127 * MIN, "a", 998))  # same ts as a cached row, larger id
        got = check(engine, cache, T0 + 131 * MIN)
        values = [r["open_total"] for r in got[("s", "a")]][-6:]
        assert values == [126, 127, 998, 128, 999, 129, 130, 131][-6:]
        assert cache.full_reloads == 1

    def test_rows_leave_the_horizon(self, engine: sa.Engine) -> None:
        """Rows older than the horizon's start are dropped, and a queue without rows goes."""
        minutes(engine, 0, 120)
        minutes(engine, 0, 0, ("gone",))
        cache = history.SeriesCache()
        assert ("s", "gone") in check(engine, cache, T0 + 120 * MIN)
        minutes(engine, 121, 125)
        got = check(engine, cache, T0 + 125 * MIN)
        assert ("s", "gone") not in got
        assert got[("s", "a")][0]["ts"] == T0 + 5 * MIN
        assert cache.full_reloads == 1

    def test_clock_going_back_reloads(self, engine: sa.Engine) -> None:
        """An earlier end reloads: rows newer than the new end are not served."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        got = check(engine, cache, T0 + 100 * MIN)
        assert got[("s", "a")][-1]["ts"] == T0 + 100 * MIN
        assert cache.full_reloads == 2

    def test_horizon_moving_back_reloads(self, engine: sa.Engine) -> None:
        """A start earlier than before (a longer horizon) reloads the older rows."""
        minutes(engine, 0, 200)
        cache = history.SeriesCache()
        end = T0 + 200 * MIN
        with engine.connect() as conn:
            cache.series(conn, end - timedelta(minutes=15), end)
            got = cache.series(conn, end - HORIZON, end)
            assert got == history.series(conn, end - HORIZON, end)
        assert len(got[("s", "a")]) == 121
        assert cache.full_reloads == 2

    def test_row_committed_later_than_the_overlap(self, engine: sa.Engine) -> None:
        """A row older than the overlap, committed late, changes the store's count in the
        horizon: the next call reloads and serves it."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        minutes(engine, 131, 131)
        insert(engine, row(T0 + 100 * MIN + timedelta(seconds=1), "a", 777))
        got = check(engine, cache, T0 + 131 * MIN)
        assert 777 in [r["open_total"] for r in got[("s", "a")]]
        assert cache.full_reloads == 2

    def test_hourly_reload_catches_what_the_count_cannot(self, engine: sa.Engine) -> None:
        """A late row and a deleted row in the same transaction keep the count: the cache
        misses both until the periodic full reload, FULL_RELOAD after the previous one."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        with engine.begin() as conn:
            conn.execute(snapshots.insert(), [row(T0 + 100 * MIN + timedelta(seconds=1), "a", 777)])
            conn.execute(
                snapshots.delete().where(snapshots.c.ts == T0 + 90 * MIN, snapshots.c.queue == "b")
            )
        period = int(history.SeriesCache.FULL_RELOAD / MIN)
        for m in range(131, 130 + period):
            minutes(engine, m, m)
            tick(engine, cache, T0 + m * MIN)
        assert cache.full_reloads == 1  # the blind spot the periodic reload is for
        minutes(engine, 130 + period, 130 + period)
        got = check(engine, cache, T0 + (130 + period) * MIN)
        assert cache.full_reloads == 2
        assert 777 in [r["open_total"] for r in got[("s", "a")]]

    def test_pruned_rows_in_the_horizon_are_not_served(self, engine: sa.Engine) -> None:
        """prune with a raw retention shorter than the horizon deletes cached rows: the
        count differs and the cache reloads; rows pruned beyond the horizon change nothing."""
        minutes(engine, 0, 130)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 130 * MIN)
        with engine.begin() as conn:
            # raw retention 2h05: rows before T0 + 5 min go, the horizon starts at T0 + 10 min
            history.prune(conn, T0 + 130 * MIN, timedelta(minutes=125), timedelta(days=1))
        check(engine, cache, T0 + 130 * MIN)
        assert cache.full_reloads == 1  # nothing in the horizon was deleted
        with engine.begin() as conn:
            history.prune(conn, T0 + 130 * MIN, timedelta(hours=1), timedelta(days=1))
        got = check(engine, cache, T0 + 131 * MIN)
        assert got[("s", "a")][0]["ts"] == T0 + 70 * MIN
        assert cache.full_reloads == 2

    def test_answers_are_the_callers(self, engine: sa.Engine) -> None:
        """Changing a returned list does not change the cache."""
        minutes(engine, 0, 10)
        cache = history.SeriesCache()
        got = tick(engine, cache, T0 + 10 * MIN)
        got[("s", "a")].clear()
        del got[("s", "b")]
        check(engine, cache, T0 + 10 * MIN)

    def test_an_error_while_updating_starts_afresh(self, engine: sa.Engine) -> None:
        """A failed read leaves no half-updated cache: the next call reloads."""
        minutes(engine, 0, 10)
        cache = history.SeriesCache()
        check(engine, cache, T0 + 10 * MIN)
        with engine.connect() as conn:
            conn.close()
            with pytest.raises(sa.exc.ResourceClosedError):
                cache.series(conn, T0 + 11 * MIN - HORIZON, T0 + 11 * MIN)
        minutes(engine, 11, 11)
        check(engine, cache, T0 + 11 * MIN)
        assert cache.full_reloads == 2
