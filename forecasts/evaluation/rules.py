"""The early-warning rules compared on the protocol, as alerting flags per hour.

Each rule sees, at the end of hour t, only data up to t (and forecasts made at t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasts.bands import from_residuals
from forecasts.breach import ForecastRuleDecision, breach_probability
from forecasts.evaluation.accuracy import band_offsets, past_paths
from forecasts.evaluation.events import BoolArray
from forecasts.types import FloatArray

Limit = float | FloatArray
"""A fixed limit, or the limit in force at each hour (a rolling limit)."""


def per_hour(limit: Limit, n: int) -> FloatArray:
    """The limit in force at each of ``n`` hours."""
    return np.broadcast_to(np.asarray(limit, dtype=np.float64), (n,))


def static_avg(actual: FloatArray, limit: Limit, window: int = 2) -> BoolArray:
    """``avg_over_time(open[2h]) > L`` with hourly samples."""
    kernel = np.ones(window) / window
    avg = np.convolve(actual, kernel)[: len(actual)]
    avg[: window - 1] = np.nan
    return np.asarray(avg > limit)


def held_for(condition: BoolArray, hours: int) -> BoolArray:
    """True where the condition held at this and the previous ``hours`` evaluations."""
    out = condition.copy()
    for k in range(1, hours + 1):
        out[k:] &= condition[:-k]
        out[:k] = False
    return out


def predict_linear(linear: FloatArray, limit: Limit, horizon: int, for_hours: int) -> BoolArray:
    """``predict_linear(open[w], H) > L`` with ``for``, from the linear model's matrix."""
    cond = np.nan_to_num(linear[:, horizon - 1], nan=-np.inf) > limit
    return held_for(cond, for_hours)


def band_crosses(
    point: FloatArray, errors: FloatArray, limit: Limit, horizon: int, level: float
) -> BoolArray:
    """Datadog's semantics: the upper conformal band crosses L within the horizon."""
    n = len(point)
    limits = per_hour(limit, n)
    out = np.zeros(n, dtype=bool)
    for t in range(n):
        paths = past_paths(errors, t, horizon)
        if np.isnan(point[t, 0]) or len(paths) < 24:
            continue
        _, hi = band_offsets(paths, level)
        out[t] = bool(np.any(point[t, :horizon] + hi > limits[t]))
    return out


def crossing_probability(
    point: FloatArray, errors: FloatArray, limit: Limit, horizon: int, window: int
) -> FloatArray:
    """Per hour, the share of past error paths that, added to the forecast, cross L."""
    n = len(point)
    limits = per_hour(limit, n)
    prob = np.zeros(n)
    for t in range(n):
        paths = past_paths(errors, t, horizon, window)
        if np.isnan(point[t, 0]) or len(paths) < 24:
            continue
        prob[t] = breach_probability(point[t, :horizon], from_residuals(paths), float(limits[t]))
    return prob


@dataclass(frozen=True)
class ForecastRule:
    """The project's forecast rule: breach probability with hysteresis.

    Attributes:
        alert: fire at this crossing probability.
        recover: recover below this probability.
        window: hours of past error paths used for calibration.
        model: the replayed model whose forecasts and errors give the probability.
    """

    alert: float = 0.5
    recover: float = 0.25
    window: int = 336
    model: str = "warning"

    def alerting(self, probability: FloatArray) -> BoolArray:
        """Alerting flag per hour, via :class:`ForecastRuleDecision`."""
        decision = ForecastRuleDecision(self.alert, self.recover)
        firing = False
        out = np.zeros(len(probability), dtype=bool)
        for t, p in enumerate(probability):
            firing = decision.is_firing(decision.decide(firing, float(p)))
            out[t] = firing
        return out
