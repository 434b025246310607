"""Seasonal naive: the value one season (24 h by default) earlier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries


@dataclass(frozen=True)
class FittedSeasonalNaive:
    """The last ``period`` open counts, oldest first."""

    last_season: FloatArray

    def forecast(self, h: int) -> FloatArray:
        """Repeat the last season."""
        m = len(self.last_season)
        return np.asarray(self.last_season[np.arange(h) % m], dtype=np.float64)

    def update(self, new: HourlySeries) -> FittedModel:
        """Slide the season window over the new hours."""
        m = len(self.last_season)
        joined = np.concatenate([self.last_season, new.open])
        return FittedSeasonalNaive(joined[-m:])


@dataclass(frozen=True)
class SeasonalNaiveModel:
    """Value one season ago.

    Attributes:
        period: season length in hours.
    """

    period: int = 24
    name: ClassVar[str] = "seasonal_naive"
    min_history: ClassVar[int] = 24

    def fit(self, series: HourlySeries) -> FittedModel:
        """Remember the last season."""
        require_history(series, self.period, self.name)
        return FittedSeasonalNaive(series.open[-self.period :].copy())
