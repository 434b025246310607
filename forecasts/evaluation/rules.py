"""The anchors' rules on the protocol, as alerting flags per hour (computed exactly).

Each rule sees, at the end of hour t, only data up to t. Prometheus semantics: a
range ``open[w]`` evaluated at t holds the samples in (t - w, t] (Prometheus 3's
left-open ranges: w hourly samples); ``for: 1h`` at an hourly evaluation fires at the
second consecutive evaluation whose condition holds. ``predict_linear`` is the
least-squares line of Prometheus' ``linearRegression`` (slope exactly 0 on a flat
window), from :func:`forecasts.models.linear.ols_line`.
"""

from __future__ import annotations

import numpy as np

from forecasts.evaluation.events import BoolArray
from forecasts.models.linear import ols_line
from forecasts.types import FloatArray

Limit = float | FloatArray
"""A fixed limit, or the limit in force at each hour (a rolling limit)."""


def per_hour(limit: Limit, n: int) -> FloatArray:
    """The limit in force at each of ``n`` hours."""
    return np.broadcast_to(np.asarray(limit, dtype=np.float64), (n,))


def static_avg(actual: FloatArray, limit: Limit, window: int = 2) -> BoolArray:
    """``avg_over_time(open[2h]) > L`` with hourly samples (the last ``window`` of them)."""
    kernel = np.ones(window) / window
    avg = np.convolve(actual, kernel)[: len(actual)]
    avg[: window - 1] = np.nan
    return np.asarray(avg > per_hour(limit, len(actual)))


def held_for(condition: BoolArray, hours: int) -> BoolArray:
    """``for: <hours>h`` at an hourly evaluation: the condition held at this and the
    previous ``hours`` evaluations (Prometheus: pending at the first, firing once
    ``for`` has elapsed since it)."""
    out = condition.copy()
    for k in range(1, hours + 1):
        out[k:] &= condition[:-k]
        out[:k] = False
    return out


def predict_linear(
    actual: FloatArray, limit: Limit, window: int, ahead: int, for_hours: int
) -> BoolArray:
    """``predict_linear(open[<window>h], <ahead>h) > L`` held ``for_hours``."""
    n = len(actual)
    value = np.full(n, -np.inf)
    for t in range(window - 1, n):
        intercept, slope = ols_line(actual[t - window + 1 : t + 1])
        value[t] = intercept + slope * ahead
    return held_for(np.asarray(value > per_hour(limit, n)), for_hours)


def net_inflow(actual: FloatArray, limit: Limit, ahead: int = 6, window: int = 6) -> BoolArray:
    """Naive plus the last ``window`` hours' net inflow per hour x h crosses L within
    ``ahead`` hours (the extrapolation is monotone: its last step decides)."""
    n = len(actual)
    value = np.full(n, -np.inf)
    value[window:] = actual[window:] + (actual[window:] - actual[:-window]) * ahead / window
    return np.asarray(value > per_hour(limit, n))
