"""What a backtest chart shows for one queue (pure; ``monitor/charts.py`` draws it).

Over the test period (from ``TEST_START``): the open count; the chosen rule's model
(``TUNED[0]``, ``warning``) forecasting each hour ``HORIZON`` hours ahead, i.e. the
value forecast at ``t - 6`` for hour ``t``, with its conformal band from that model's
error paths known at the origin (as ``accuracy`` and ``rules.crossing_probability``
calibrate); the fixed limit; the hours the chosen forecast rule alerts; and the
onsets of the breach episodes the early-warning scores count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasts.evaluation.accuracy import MIN_PATHS, band_offsets, past_paths
from forecasts.evaluation.events import BoolArray, episodes
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import (
    HORIZON,
    TEST_START,
    TUNED,
    fixed_limit,
    forecast_probability,
)
from forecasts.evaluation.rules import ForecastRule
from forecasts.rolling import errors_from
from forecasts.types import FloatArray, HourlySeries, TimeArray


@dataclass(frozen=True)
class ChartData:
    """One queue's test period, hour by hour (arrays of equal length).

    Attributes:
        timestamps: the test hours.
        actual: the open count.
        point: the forecast made ``HORIZON`` hours earlier (NaN where there is none).
        lower: lower edge of the band (NaN until enough error paths are known).
        upper: upper edge of the band.
        limit: the fixed limit (p90 of the first three weeks).
        alerting: whether the forecast rule alerts in that hour.
        onsets: indices (into these arrays) of the first hour of each breach.
        rule: the forecast rule whose alerts and model are shown.
        level: the band's coverage level.
    """

    timestamps: TimeArray
    actual: FloatArray
    point: FloatArray
    lower: FloatArray
    upper: FloatArray
    limit: float
    alerting: BoolArray
    onsets: list[int]
    rule: ForecastRule
    level: float


def chart_data(
    series: HourlySeries, rep: Replay, rule: ForecastRule = TUNED[0], level: float = 0.8
) -> ChartData:
    """The chart of one queue's replay, against its fixed limit."""
    actual = series.open
    matrix = rep.matrices[rule.model]
    errors = errors_from(matrix, actual)
    n = len(actual)
    point, lower, upper = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for t in range(max(TEST_START, HORIZON), n):
        origin = t - HORIZON
        point[t] = matrix[origin, HORIZON - 1]
        paths = past_paths(errors, origin, HORIZON, rule.window)
        if np.isnan(point[t]) or len(paths) < MIN_PATHS:
            continue
        lo, hi = band_offsets(paths, level)
        lower[t], upper[t] = point[t] + lo[-1], point[t] + hi[-1]
    limit = fixed_limit(series)
    alerting = rule.alerting(forecast_probability(actual, rep, limit, rule.window, rule.model))
    onsets = [ep.onset - TEST_START for ep in episodes(actual, limit) if ep.onset >= TEST_START]
    test = slice(TEST_START, n)
    return ChartData(
        timestamps=series.timestamps[test],
        actual=actual[test],
        point=point[test],
        lower=lower[test],
        upper=upper[test],
        limit=limit,
        alerting=alerting[test],
        onsets=onsets,
        rule=rule,
        level=level,
    )
