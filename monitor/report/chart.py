"""The report's backlog chart: the period's hourly open backlog and the latest forecast
with its band, read from the history store, and their SVG geometry (pure).

The past is the hourly rollups of the source's total (``open_last`` of each hour, the
series the forecast job reads; the forecast queue's own when a one-queue source's total
is not forecast); the forecast is the stored forecast of that total
(point, lower and upper band at the forecast's level), from the hour it was made, at
most a week. Either part is absent when the store does not hold it (a source polled
by the command only, without the daemon, has neither); with neither there is no chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE
from monitor.store import forecasting as forecast_store
from monitor.store.schema import forecasts

WEEK_HOURS = 168
WIDTH, HEIGHT, LEFT, TOP = 640.0, 200.0, 48.0, 10.0


@dataclass(frozen=True)
class BacklogChart:
    """Hourly points of the past and of the forecast band."""

    past: tuple[tuple[datetime, float], ...]
    forecast: tuple[tuple[datetime, float, float, float], ...]
    """(hour, point, lower, upper)."""
    level: float | None


def read_chart(
    conn: sa.Connection, source: str, start: datetime, end: datetime
) -> BacklogChart | None:
    """The chart of ``source``'s total for ``[start, end)`` and its latest forecast (the
    total's; when only one queue of the source is forecast, that queue's, which is the
    total of a one-queue source)."""
    stored = list(conn.execute(sa.select(forecasts).where(forecasts.c.source == source)).mappings())
    chosen = [r for r in stored if r["queue"] == TOTAL_QUEUE] or (
        stored if len(stored) == 1 else []
    )
    key = (source, str(chosen[0]["queue"]) if chosen else TOTAL_QUEUE)
    rows = forecast_store.rollups_of(conn, [key], start, end).get(key, [])
    past = tuple((r["hour"], float(r["open_last"])) for r in rows)
    ahead: tuple[tuple[datetime, float, float, float], ...] = ()
    level = None
    for row in chosen:
        made: datetime = row["made_at"]
        steps = zip(row["point"], row["lower"], row["upper"], strict=False)
        ahead = tuple(
            (made + timedelta(hours=k + 1), float(p), float(lo), float(up))
            for k, (p, lo, up) in enumerate(steps)
            if k < WEEK_HOURS
        )
        level = float(row["level"])
    if not past and not ahead:
        return None
    return BacklogChart(past, ahead, level)


@dataclass(frozen=True)
class ChartGeometry:
    """SVG coordinates: the past line, the forecast line, the band polygon, the axis."""

    past: str
    point: str
    band: str
    y_max: float
    first: datetime
    last: datetime


def geometry(chart: BacklogChart) -> ChartGeometry:
    """Scale the chart into a ``WIDTH`` x ``HEIGHT`` plot (time on x, open tickets on y)."""
    times = [t for t, _ in chart.past] + [t for t, *_ in chart.forecast]
    first, last = min(times), max(times)
    span = max((last - first).total_seconds(), 1.0)
    values = [v for _, v in chart.past] + [up for *_, up in chart.forecast]
    y_max = max([*values, 1.0])

    def x(t: datetime) -> float:
        return LEFT + (WIDTH - LEFT) * (t - first).total_seconds() / span

    def y(v: float) -> float:
        return TOP + (HEIGHT - TOP) * (1 - max(v, 0.0) / y_max)

    def line(points: list[tuple[datetime, float]]) -> str:
        return " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)

    upper = [(t, up) for t, _, _, up in chart.forecast]
    lower = [(t, lo) for t, _, lo, _ in chart.forecast]
    return ChartGeometry(
        past=line(list(chart.past)),
        point=line([(t, p) for t, p, _, _ in chart.forecast]),
        band=line(upper + lower[::-1]),
        y_max=y_max,
        first=first,
        last=last,
    )
