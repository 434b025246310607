"""Linear trend over a trailing window: Prometheus ``predict_linear`` for backlogs.

A poor default for ticket backlogs: a 6 h window extrapolates the morning ramp, and
forecasting.md measures it 1.5-2.8x worse than naive. It is here for parity and as
an early-warning comparison, not for selection by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries


def ols_line(values: FloatArray) -> tuple[float, float]:
    """Intercept at the last point and slope per step of an OLS line through ``values``."""
    x = np.arange(len(values), dtype=np.float64) - (len(values) - 1)
    slope, intercept = np.polyfit(x, values, 1)
    return float(intercept), float(slope)


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

    Prometheus' range ``[6h]`` holds samples from the last 6 h; at an hourly step that
    is 6 or 7 points; we use ``window`` points.
    """

    window: int = 6
    name: ClassVar[str] = "linear"
    min_history: ClassVar[int] = 2

    def fit(self, series: HourlySeries) -> FittedModel:
        """Fit the line over the trailing window."""
        require_history(series, max(self.min_history, self.window), self.name)
        recent = series.open[-self.window :].copy()
        return FittedLinear(*ols_line(recent), recent)
