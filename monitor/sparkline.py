"""A small inline SVG chart: the last day's backlog, the forecast band ahead, the limit.

Pure geometry: the template draws the paths this module computes. An inline SVG needs no
script and no chart library, renders on any phone, and stays a few hundred bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH = 240
HEIGHT = 64
PAD = 2.0
PAST = timedelta(hours=24)
AHEAD = timedelta(hours=24)


@dataclass(frozen=True)
class Sparkline:
    """The SVG geometry of one queue's chart (coordinates in a WIDTH x HEIGHT box).

    Attributes:
        line: path of the measured backlog (``d`` attribute), empty without points.
        band: polygon of the forecast band (``points`` attribute), empty without one.
        forecast: path of the point forecast.
        limit_y: height of the limit line, None without a limit.
        now_x: where "now" is on the time axis.
        bottom: the open-ticket count at the bottom edge.
        top: the open-ticket count at the top edge.
        label: the chart in words, for screen readers.
    """

    line: str
    band: str
    forecast: str
    limit_y: float | None
    now_x: float
    bottom: float
    top: float
    label: str
    width: int = WIDTH
    height: int = HEIGHT


def sparkline(
    history: Sequence[tuple[datetime, float]],
    band: Sequence[tuple[datetime, float, float, float]],
    limit: float | None,
    now: datetime,
) -> Sparkline:
    """Chart ``history`` (the last 24 h) and ``band`` (``(instant, lower, point, upper)``,
    the next 24 h) against ``limit``, with ``now`` marked."""
    start, end = now - PAST, now + (AHEAD if band else timedelta(0))
    past = [(t, v) for t, v in history if start <= t <= now]
    ahead = [b for b in band if now < b[0] <= end]
    values = [v for _, v in past] + [b[1] for b in ahead] + [b[3] for b in ahead]
    values += [limit] if limit is not None else []
    # The axis spans the values drawn (not from zero), so a backlog moving between 2,000
    # and 2,100 shows its shape rather than a flat line near the top.
    low, high = min(values, default=0.0), max(values, default=1.0)
    margin = max((high - low) * 0.1, 1.0)
    bottom, top = max(0.0, low - margin), high + margin
    span = (end - start).total_seconds()

    def x(t: datetime) -> float:
        return round((t - start).total_seconds() / span * WIDTH, 1)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - (v - bottom) / (top - bottom) * (HEIGHT - 2 * PAD), 1)

    upper = [f"{x(t)},{y(hi)}" for t, _, _, hi in ahead]
    lower = [f"{x(t)},{y(lo)}" for t, lo, _, _ in reversed(ahead)]
    return Sparkline(
        line=_path([(x(t), y(v)) for t, v in past]),
        band=" ".join(upper + lower),
        forecast=_path([(x(t), y(mid)) for t, _, mid, _ in ahead]),
        limit_y=y(limit) if limit is not None else None,
        now_x=x(now),
        bottom=bottom,
        top=top,
        label=_label(past, ahead, limit),
    )


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'L' if i else 'M'}{px},{py}" for i, (px, py) in enumerate(points))


def _label(
    past: Sequence[tuple[datetime, float]],
    ahead: Sequence[tuple[datetime, float, float, float]],
    limit: float | None,
) -> str:
    parts = []
    if past:
        low, high = min(v for _, v in past), max(v for _, v in past)
        parts.append(f"last 24 h between {low:,.0f} and {high:,.0f} open tickets")
    if ahead:
        parts.append(f"forecast up to {max(b[3] for b in ahead):,.0f} within 24 h")
    if limit:
        parts.append(f"limit {limit:,.0f}")
    return "; ".join(parts) or "no data yet"
