"""Same-hour drift: the last value plus half the average path of past days from this hour.

A backlog's level barely has a daily swing, but its *changes* do: it climbs in the
morning and drains in the afternoon. From an origin at 08:00 on a weekday, this model
takes the path the open count followed from 08:00 on each of the previous 13 days of
the same type (weekday or weekend), averages those paths and adds half of it to the
last value. The halving shrinks a noisy average towards naive (no change); nothing is
estimated, so ``fit`` and ``update`` only keep the last 15 days of values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries, TimeArray, hour_of_week

DAYS = 13
"""Past days averaged: all that a 14-day (336 h) training window holds whole."""
SHRINK = 0.5
WEEKEND_FROM = 120  # hour of week of Saturday 00:00


def weekend(timestamps: TimeArray) -> npt.NDArray[np.bool_]:
    """True for hours on a Saturday or Sunday."""
    return np.asarray(hour_of_week(timestamps) >= WEEKEND_FROM)


@dataclass(frozen=True)
class FittedDrift:
    """The recent values, the last hour's label, and the settings.

    Attributes:
        recent: open counts of the last ``days`` days plus one hour, oldest first.
        last_hour: label of the last hour.
        days: past days averaged.
        shrink: share of the average path added to the last value.
    """

    recent: FloatArray
    last_hour: np.datetime64
    days: int = DAYS
    shrink: float = SHRINK

    def forecast(self, h: int) -> FloatArray:
        """Last value plus the shrunk mean path of the same hour on past days of this type."""
        x = self.recent
        t = len(x) - 1
        origins = t - 24 * np.arange(1, self.days + 1)
        origins = origins[origins >= 0]
        stamps = self.last_hour - (t - origins).astype("timedelta64[h]")
        origins = origins[weekend(stamps) == weekend(np.array([self.last_hour]))[0]]
        steps = np.arange(1, h + 1)
        targets = origins[:, None] + steps[None, :]
        known = targets <= t
        changes = np.where(known, x[np.minimum(targets, t)] - x[origins][:, None], 0.0)
        counted = known.sum(axis=0)
        mean = changes.sum(axis=0) / np.maximum(counted, 1)
        # Steps no past day reaches (beyond 24 h for yesterday...) keep the last known drift.
        reached = np.flatnonzero(counted > 0)
        if len(reached):
            mean[reached[-1] + 1 :] = mean[reached[-1]]
        return np.asarray(x[-1] + self.shrink * mean, dtype=np.float64)

    def update(self, new: HourlySeries) -> FittedModel:
        """Slide the window of recent values over the new hours."""
        if not len(new):
            return self
        keep = 24 * self.days + 1
        joined = np.concatenate([self.recent, new.open])[-keep:]
        return FittedDrift(joined, new.timestamps[-1], self.days, self.shrink)


@dataclass(frozen=True)
class DriftModel:
    """Last value plus half the mean same-hour path of the previous 13 days of this type.

    Attributes:
        days: past days averaged.
        shrink: share of the average path added.
    """

    days: int = DAYS
    shrink: float = SHRINK
    name: ClassVar[str] = "drift"
    min_history: ClassVar[int] = 48

    def fit(self, series: HourlySeries) -> FittedModel:
        """Keep the last ``days`` days and one hour of values."""
        require_history(series, self.min_history, self.name)
        recent = series.open[-(24 * self.days + 1) :].copy()
        return FittedDrift(recent, series.timestamps[-1], self.days, self.shrink)
