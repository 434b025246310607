"""Naive: the last value, flat. The baseline every model must beat, and the fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries


@dataclass(frozen=True)
class FittedNaive:
    """The last observed open count."""

    last: float

    def forecast(self, h: int) -> FloatArray:
        """The last value repeated ``h`` times."""
        return np.full(h, self.last, dtype=np.float64)

    def update(self, new: HourlySeries) -> FittedModel:
        """Keep the newest value."""
        return FittedNaive(float(new.open[-1])) if len(new) else self


@dataclass(frozen=True)
class NaiveModel:
    """Last value carried forward."""

    name: ClassVar[str] = "naive"
    min_history: ClassVar[int] = 1

    def fit(self, series: HourlySeries) -> FittedModel:
        """Remember the last open count."""
        require_history(series, self.min_history, self.name)
        return FittedNaive(float(series.open[-1]))
