"""What a backtest chart shows for one queue (pure; ``monitor/charts.py`` draws it).

Over the test period (from ``TEST_START``): the open count; the forecast the daemon
showed ``HORIZON`` hours earlier for each hour (the selected model, step 6) with its
80 % conformal band at that step; the fixed limit; the hours the forecast rule
alerted (from the real rule evaluation, ``monitor/backtest.py``); and the onsets of
the breach episodes the early-warning scores count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasts.evaluation.events import BoolArray, episodes
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import HORIZON, TEST_START, fixed_limit
from forecasts.types import FloatArray, HourlySeries, TimeArray


@dataclass(frozen=True)
class ChartData:
    """One queue's test period, hour by hour (arrays of equal length).

    Attributes:
        timestamps: the test hours.
        actual: the open count.
        point: the forecast made ``HORIZON`` hours earlier (NaN where there is none).
        lower: lower edge of its band.
        upper: upper edge of its band.
        limit: the fixed limit (p90 of the first three weeks).
        alerting: whether the forecast rule alerts in that hour.
        onsets: indices (into these arrays) of the first hour of each breach.
    """

    timestamps: TimeArray
    actual: FloatArray
    point: FloatArray
    lower: FloatArray
    upper: FloatArray
    limit: float
    alerting: BoolArray
    onsets: list[int]


def chart_data(series: HourlySeries, rep: Replay, alerting: BoolArray) -> ChartData:
    """The chart of one queue's replay against its fixed limit."""
    n = len(series)
    point, lower, upper = (np.full(n, np.nan) for _ in range(3))
    shown = rep.band(HORIZON)
    for target, made in zip((point, lower, upper), shown, strict=True):
        target[HORIZON:] = made[: n - HORIZON]
    limit = fixed_limit(series)
    onsets = [
        ep.onset - TEST_START for ep in episodes(series.open, limit) if ep.onset >= TEST_START
    ]
    test = slice(TEST_START, n)
    return ChartData(
        timestamps=series.timestamps[test],
        actual=series.open[test],
        point=point[test],
        lower=lower[test],
        upper=upper[test],
        limit=limit,
        alerting=alerting[test],
        onsets=onsets,
    )
