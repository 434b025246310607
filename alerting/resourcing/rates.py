"""Where λ and μ come from: the arrivals forecast or measurements, smoothed.

λ (arrivals per hour) is the mean of the arrivals forecast over the objective's window
when there is one, else the measured rate. μ (solves per productive agent-hour) is
measured as resolved per active agent-hour where the store knows agents, else the
configured value. Both are smoothed with an EWMA of a given half-life between ticks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta


def arrival_rate(
    forecast: Sequence[tuple[datetime, float]] | None,
    measured: float,
    start: datetime,
    end: datetime,
) -> float:
    """Mean forecast arrivals per hour for points in ``[start, end)``, else ``measured``.

    Args:
        forecast: ``(ts, arrivals_per_hour)`` points, or None without a forecast.
        measured: the measured (smoothed) arrival rate per hour.
        start / end: the window the staffing covers.
    """
    points = [rate for ts, rate in forecast or () if start <= ts < end and math.isfinite(rate)]
    if not points:
        return measured
    return max(0.0, sum(points) / len(points))


def throughput_per_agent_hour(
    resolved: float | None, active_agent_hours: float | None, configured: float
) -> float:
    """Measured μ = resolved / active agent-hours when both are known and positive."""
    if resolved is None or active_agent_hours is None or active_agent_hours <= 0 or resolved <= 0:
        return configured
    return resolved / active_agent_hours


def ewma(previous: float | None, value: float, elapsed: timedelta, half_life: timedelta) -> float:
    """Exponentially weighted mean: the old value's weight halves every ``half_life``."""
    if previous is None:
        return value
    weight = math.pow(0.5, elapsed.total_seconds() / half_life.total_seconds())
    return weight * previous + (1 - weight) * value
