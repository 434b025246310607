"""Core forecast types: the hourly series a queue's history gives, and a forecast.

Both are frozen dataclasses; arrays are numpy ``float64`` (``datetime64[h]`` for the
timestamps). ``timestamps[i]`` labels the hour ``[t, t + 1h)``: ``created[i]`` and
``resolved[i]`` count that hour's traffic and ``open[i]`` is the backlog at its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
ForecastStatus = Literal["ok", "insufficient_history", "fallback"]


@dataclass(frozen=True)
class HourlySeries:
    """One queue's hourly history, oldest first.

    Attributes:
        timestamps: hour labels (``datetime64[h]``), strictly consecutive.
        open: open backlog at the end of each hour.
        created: tickets created during each hour.
        resolved: tickets resolved during each hour.
    """

    timestamps: TimeArray
    open: FloatArray
    created: FloatArray
    resolved: FloatArray

    def __post_init__(self) -> None:
        n = len(self.timestamps)
        if not len(self.open) == len(self.created) == len(self.resolved) == n:
            raise ValueError("timestamps, open, created and resolved differ in length")

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_arrays(
        cls,
        timestamps: npt.ArrayLike,
        open_: npt.ArrayLike,
        created: npt.ArrayLike | None = None,
        resolved: npt.ArrayLike | None = None,
    ) -> HourlySeries:
        """Build a series, filling unknown traffic with the open count's net change.

        Args:
            timestamps: hour labels (anything ``numpy.datetime64`` accepts).
            open_: open backlog per hour.
            created: arrivals per hour; when None, the positive part of the change.
            resolved: resolutions per hour; when None, the negative part of the change.
        """
        op = np.asarray(open_, dtype=np.float64)
        diff = np.diff(op, prepend=op[:1])
        cr = np.clip(diff, 0, None) if created is None else np.asarray(created, np.float64)
        rs = np.clip(-diff, 0, None) if resolved is None else np.asarray(resolved, np.float64)
        ts = np.asarray(timestamps, dtype="datetime64[h]")
        return cls(ts, op, cr, rs)

    def head(self, n: int) -> HourlySeries:
        """The first ``n`` hours."""
        return self.window(0, n)

    def tail(self, n: int) -> HourlySeries:
        """The last ``n`` hours (all of them when fewer)."""
        return self.window(max(0, len(self) - n), len(self))

    def window(self, start: int, stop: int) -> HourlySeries:
        """Hours ``start`` (inclusive) to ``stop`` (exclusive)."""
        sl = slice(start, stop)
        return HourlySeries(self.timestamps[sl], self.open[sl], self.created[sl], self.resolved[sl])

    def next_timestamps(self, h: int) -> TimeArray:
        """The labels of the ``h`` hours after the last one."""
        steps = np.arange(1, h + 1).astype("timedelta64[h]")
        return np.asarray(self.timestamps[-1] + steps, dtype="datetime64[h]")


def hour_of_week(timestamps: TimeArray) -> npt.NDArray[np.int64]:
    """Hour of the week, 0 = Monday 00:00 (1970-01-01 was a Thursday)."""
    hours = timestamps.astype("datetime64[h]").astype(np.int64)
    return (hours + 72) % 168


OBSERVED_HOURS = 6
"""How many hours back a forecast carries the observed open counts (:attr:`Forecast.observed`)."""

RISE_QUANTILES = (0.5, 0.75, 0.9, 0.95)
"""The quantiles of the queue's own rises a forecast carries (:attr:`Forecast.rises`)."""


@dataclass(frozen=True)
class Forecast:
    """One queue's forecast made at ``made_at``.

    Attributes:
        queue: the queue's name.
        made_at: the hour label of the last observation used.
        horizon_hours: number of hourly steps forecast.
        model: name of the model that produced ``point``.
        point: point forecast for hours 1..horizon.
        lower: lower band edge at ``level``.
        upper: upper band edge at ``level``.
        level: nominal band coverage, e.g. 0.8.
        breach_eta_hours: first step whose upper band crosses the limit, or None.
        breach_probability: probability of crossing the limit within the horizon, or None.
        backtest_mase: the selected model's backtest MASE at the alert horizon, or None.
        status: ``ok``, ``fallback`` (naive after a failure) or ``insufficient_history``.
        observed: the last open counts the state holds, oldest first, the last at
            ``made_at`` (up to :data:`OBSERVED_HOURS` + 1; an hour the state does not
            hold is NaN): what a forecast rule's level gate reads.
        rises: the queue's own typical rise of the open count over the alert horizon:
            the :data:`RISE_QUANTILES` of its rises over that many hours in the state's
            last ``window`` hours (empty before any is known): what a forecast rule's
            gate from the queue's own history reads.
    """

    queue: str
    made_at: np.datetime64
    horizon_hours: int
    model: str
    point: FloatArray
    lower: FloatArray
    upper: FloatArray
    level: float
    breach_eta_hours: int | None
    breach_probability: float | None
    backtest_mase: float | None
    status: ForecastStatus
    observed: tuple[float, ...] = ()
    rises: tuple[float, ...] = ()
