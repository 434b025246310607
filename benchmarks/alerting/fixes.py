"""Baselines and checks for the evaluation benchmark; no copy of production code.

Fixes 1 (the snapshot rows kept between ticks: :class:`monitor.store.history.SeriesCache`)
and 2 (the rules find their window by bisection, in ``alerting/rules/``) are in
production. What remains here:

* :class:`FullReadDaemon`: the production ``Daemon`` whose row cache is swapped for
  :class:`FullRead`, i.e. a fresh ``history.series`` read of the whole horizon at every
  tick, as before fix 1 (a baseline for the cost, and the reference the cached path
  must equal).
* :class:`CheckedCache`: the production cache, remembering what it returned so the
  benchmark can compare it with a fresh ``history.series`` read after each tick.
* :func:`linear_compute`: the rules' measure by a full scan of the rows, as before fix 2
  (written here from the definitions: ``start < ts <= now``, the newest sample within
  ``LOOKBACK`` for a rule without window, the newest row with ``ts <= now`` for aging);
  the bisecting rules must give the same values.
* :func:`series_fast`, :data:`NARROW`: proposed fix 5 (read only the rules' columns),
  not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.rules import AgingRule, FlowRule, SlaRule, ThresholdRule
from alerting.rules.aging import _METRIC
from alerting.rules.common import EvalContext, Measured, Row, RuleBase, window_values
from alerting.rules.threshold import REDUCERS, metric_value
from alerting.state import NoData
from monitor.daemon import Daemon
from monitor.store import history
from monitor.store.schema import snapshots

Series = dict[tuple[str, str], list[Row]]


class FullRead(history.SeriesCache):
    """No cache: ``history.series`` of the whole horizon at every call (before fix 1)."""

    def series(self, conn: sa.Connection, start: datetime, end: datetime) -> Series:
        return history.series(conn, start, end)


class CheckedCache(history.SeriesCache):
    """The production cache; ``last`` is what it returned last, with its window."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[datetime, datetime, Series] | None = None

    def series(self, conn: sa.Connection, start: datetime, end: datetime) -> Series:
        got = super().series(conn, start, end)
        self.last = (start, end, got)
        return got

    def matches_store(self, engine: sa.Engine) -> bool:
        """Whether the last answer equals a fresh ``history.series`` read (untimed)."""
        assert self.last is not None
        start, end, got = self.last
        with engine.connect() as conn:
            return history.series(conn, start, end) == got


class CheckedDaemon(Daemon):
    """The production ``Daemon``, its row cache a :class:`CheckedCache`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: history.SeriesCache = CheckedCache()

    @property
    def cache(self) -> CheckedCache:
        assert isinstance(self._rows, CheckedCache)
        return self._rows


class FullReadDaemon(Daemon):
    """The production ``Daemon`` reading the whole horizon at every tick (before fix 1)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows = FullRead()


# -- the rules' measure by a full scan (before fix 2), for the equality check -------------


def linear_compute(
    rule: RuleBase, rows: Sequence[Row], now: datetime, ctx: EvalContext
) -> Measured | NoData | None:
    """What ``rule.compute`` gave before bisection; None for kinds it does not cover."""
    if isinstance(rule, ThresholdRule):
        samples = [(r["ts"], v) for r in rows if (v := rule.sample_value(r)) is not None]
        values = window_values(samples, now, rule.window)
        if not values:
            return NoData(f"no samples of {rule.metric} in the window")
        return Measured(REDUCERS[rule.reduce](values), rule.expression())
    if isinstance(rule, FlowRule):
        start = now - rule.window
        inside = [r for r in rows if start < r["ts"] <= now]
        return rule.compute(inside, now, ctx, ("", ""))  # on the scanned window
    latest = [r for r in rows if r["ts"] <= now]
    if isinstance(rule, AgingRule):
        if not latest:
            return NoData("no snapshot of the queue")
        value = metric_value(_METRIC[rule.measure], latest[-1])
        if value is None:
            return NoData(f"the source does not give {rule.measure}")
        return Measured(value, rule.expression())
    if isinstance(rule, SlaRule):
        if not latest:
            return NoData("no snapshot of the queue")
        if rule.measure.startswith("avg_") or rule.measure == "breached_in_window":
            inside = [r for r in latest if r["ts"] > now - rule.window]
            # the window's rows alone, and the newest row for the NoData reason
            return rule.compute(inside or latest[-1:], now, ctx, ("", ""))
        return rule.compute(latest[-1:], now, ctx, ("", ""))
    return None


def same_measures(
    rules: Sequence[RuleBase], series: Series, now: datetime, ctx: EvalContext
) -> bool:
    """Whether every rule measures every queue as the full scan does (values and reasons)."""
    for rule in rules:
        for key, rows in series.items():
            expected = linear_compute(rule, rows, now, ctx)
            if expected is not None and rule.compute(rows, now, ctx, key) != expected:
                return False
    return True


# -- proposed fix 5 (not applied): fewer columns, no per-row RowMapping ------------------

NARROW = (
    "id",
    "source",
    "queue",
    "ts",
    "window_start",
    "open_total",
    "open_breakdown",
    "created",
    "resolved",
    "oldest_age_s",
    "older_than",
    "avg_resolution_s",
)
"""The columns the benchmark's 10 rules read (a real fix derives them from the rules)."""


def series_fast(
    conn: sa.Connection, start: datetime, end: datetime, columns: Sequence[str] | None = None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``history.series`` with ``dict(zip(keys, row))`` instead of ``dict(row_mapping)``,
    optionally reading only ``columns`` (the unused JSON columns are then not decoded)."""
    cols = [snapshots.c[n] for n in columns] if columns else list(snapshots.c)
    result = conn.execute(
        sa.select(*cols)
        .where(snapshots.c.ts >= start, snapshots.c.ts <= end)
        .order_by(snapshots.c.ts, snapshots.c.id)
    )
    keys = list(result.keys())
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for values in result:
        row = dict(zip(keys, values, strict=True))
        out.setdefault((row["source"], row["queue"]), []).append(row)
    return out
