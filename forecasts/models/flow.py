"""Flow model: backlog level plus forecast arrivals minus forecast resolutions.

Arrivals and resolutions are forecast separately, each as a seasonal profile: mean per
hour of day and day type (weekday/weekend) while the history is short, per hour of
week once it holds three weeks. Their difference is the expected net inflow. Because
the profiles are averages, the net inflow is shrunk by a factor ``beta`` in [0, 1],
fitted by least squares on the history's own 6-hour changes (a factor of 0 is naive).
The forecast job stores :meth:`FittedFlow.forecast_flows` for every queue, and the
staffing maths reads the arrivals (``monitor/resourcing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from forecasts.models.base import FittedModel, require_history
from forecasts.types import FloatArray, HourlySeries, TimeArray, hour_of_week

WEEK_PROFILE_AFTER = 21 * 24
SHRINK_HORIZON = 6


def slots(timestamps: TimeArray, weekly: bool) -> npt.NDArray[np.int64]:
    """Profile slot of each hour: hour of week, or hour of day + 24 at weekends."""
    how = hour_of_week(timestamps)
    if weekly:
        return how
    return np.asarray(how % 24 + 24 * (how >= 120), dtype=np.int64)


def profile(values: FloatArray, slot: npt.NDArray[np.int64], size: int) -> FloatArray:
    """Mean of ``values`` per slot (the overall mean where a slot is empty)."""
    sums = np.bincount(slot, weights=values, minlength=size)
    counts = np.bincount(slot, minlength=size)
    mean = float(values.mean()) if len(values) else 0.0
    return np.where(counts > 0, sums / np.maximum(counts, 1), mean)


def fit_shrink(open_: FloatArray, net_expected: FloatArray, k: int) -> float:
    """Least-squares factor on the expected k-hour net inflow, clipped to [0, 1]."""
    if len(open_) <= k:
        return 0.0
    actual = open_[k:] - open_[:-k]
    cum = np.concatenate([[0.0], np.cumsum(net_expected)])
    expected = cum[k + 1 :] - cum[1:-k]
    denom = float(expected @ expected)
    return float(np.clip(expected @ actual / denom, 0.0, 1.0)) if denom > 0 else 0.0


@dataclass(frozen=True)
class FittedFlow:
    """Level, arrival and resolution profiles, and the shrink factor.

    Attributes:
        level: open count at the last hour.
        last_hour: label of the last hour.
        weekly: whether the profiles are per hour of week.
        arrivals: mean arrivals per slot.
        resolutions: mean resolutions per slot.
        beta: shrink factor on the net inflow.
        decay: weight of each new hour in the profile update.
    """

    level: float
    last_hour: np.datetime64
    weekly: bool
    arrivals: FloatArray
    resolutions: FloatArray
    beta: float
    decay: float = 0.1

    def _future_slots(self, h: int) -> npt.NDArray[np.int64]:
        future = self.last_hour + np.arange(1, h + 1).astype("timedelta64[h]")
        return slots(future, self.weekly)

    def forecast_flows(self, h: int) -> tuple[FloatArray, FloatArray]:
        """Forecast arrivals and resolutions per hour for hours 1..h."""
        slot = self._future_slots(h)
        return self.arrivals[slot].copy(), self.resolutions[slot].copy()

    def forecast(self, h: int) -> FloatArray:
        """Level plus the shrunk cumulative net inflow."""
        arrivals, resolutions = self.forecast_flows(h)
        return np.asarray(self.level + self.beta * np.cumsum(arrivals - resolutions))

    def update(self, new: HourlySeries) -> FittedModel:
        """Move the level and nudge each slot's profile towards the new hours."""
        if not len(new):
            return self
        arr, res = self.arrivals.copy(), self.resolutions.copy()
        slot_of = slots(new.timestamps, self.weekly)
        for slot, c, r in zip(slot_of, new.created, new.resolved, strict=True):
            arr[slot] += self.decay * (c - arr[slot])
            res[slot] += self.decay * (r - res[slot])
        return FittedFlow(
            float(new.open[-1]), new.timestamps[-1], self.weekly, arr, res, self.beta, self.decay
        )


@dataclass(frozen=True)
class FlowModel:
    """Level + forecast arrivals - forecast resolutions.

    Attributes:
        max_history: hours used for the profiles.
    """

    max_history: int = 672
    name: ClassVar[str] = "flow"
    min_history: ClassVar[int] = 48

    def fit(self, series: HourlySeries) -> FittedModel:
        """Build the profiles and fit the shrink factor."""
        require_history(series, self.min_history, self.name)
        recent = series.tail(self.max_history)
        weekly = len(recent) >= WEEK_PROFILE_AFTER
        size = 168 if weekly else 48
        slot = slots(recent.timestamps, weekly)
        arrivals = profile(recent.created, slot, size)
        resolutions = profile(recent.resolved, slot, size)
        net = arrivals[slot] - resolutions[slot]
        beta = fit_shrink(recent.open, net, SHRINK_HORIZON)
        return FittedFlow(
            float(recent.open[-1]), recent.timestamps[-1], weekly, arrivals, resolutions, beta
        )
