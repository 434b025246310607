"""Linear trend over a trailing window: Prometheus ``predict_linear`` for backlogs.

A poor default for ticket backlogs: a 6 h window extrapolates the morning ramp, and
forecasting.md measures it 1.5-2.8x worse than naive. It is here for parity and as
an early-warning comparison, not for selection by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries


def ols_line(values: FloatArray) -> tuple[float, float]:
    """Intercept at the last point and slope per step, as Prometheus' ``linearRegression``.

    x is the time relative to the evaluation time (the last sample), as Prometheus
    measures it. Like Prometheus, a window of equal values has a slope of exactly 0
    (``np.polyfit`` returns about 1e-15 there, which put a queue sitting exactly at an
    integer limit above it); the sums are correctly rounded (``math.fsum``) where
    Prometheus uses Kahan-Neumaier compensation.
    """
    ys = [float(v) for v in values]
    if all(y == ys[0] for y in ys):
        return ys[0], 0.0
    n = float(len(ys))
    xs = [float(i - (len(ys) - 1)) for i in range(len(ys))]
    sum_x, sum_y = math.fsum(xs), math.fsum(ys)
    sum_xy = math.fsum(x * y for x, y in zip(xs, ys, strict=True))
    sum_x2 = math.fsum(x * x for x in xs)
    slope = (sum_xy - sum_x * sum_y / n) / (sum_x2 - sum_x * sum_x / n)
    return sum_y / n - slope * sum_x / n, slope


@dataclass(frozen=True)
class FittedLinear:
    """A line ending at the last hour."""

    intercept: float
    slope: float
    recent: FloatArray

    def forecast(self, h: int) -> FloatArray:
        """The line extrapolated ``h`` hours."""
        return self.intercept + self.slope * np.arange(1, h + 1, dtype=np.float64)

    def update(self, new: HourlySeries) -> FittedModel:
        """Refit the line over the slid window (cheap: a few points)."""
        window = np.concatenate([self.recent, new.open])[-len(self.recent) :]
        return FittedLinear(*ols_line(window), window)


@dataclass(frozen=True)
class LinearModel:
    """OLS over the last ``window`` samples, like ``predict_linear(open[window], h)``.

    Prometheus 3 ranges are left-open: ``open[6h]`` evaluated at t holds the samples
    in (t - 6h, t], i.e. 6 hourly samples (Prometheus 2 included t - 6h: 7).
    """

    window: int = 6
    name: ClassVar[str] = "linear"
    min_history: ClassVar[int] = 2

    def fit(self, series: HourlySeries) -> FittedModel:
        """Fit the line over the trailing window."""
        require_history(series, max(self.min_history, self.window), self.name)
        recent = series.open[-self.window :].copy()
        return FittedLinear(*ols_line(recent), recent)
