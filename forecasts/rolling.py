"""Forecasts from every hour of a history, the way the daemon makes them.

Parameters are estimated every ``refit_every`` hours on the trailing ``train_hours``;
in between, the fitted state absorbs one hour at a time. Row ``t`` of the result is
the forecast made at the end of hour ``t`` for hours ``t+1..t+horizon``. Backtests,
band calibration and early-warning replays all read these matrices.
"""

from __future__ import annotations

import numpy as np

from forecasts.backtest import FIT_ERRORS
from forecasts.fitwarnings import WarningTally, counted_warnings, fit_warnings
from forecasts.models.base import FittedModel, Model, advance, finite
from forecasts.types import FloatArray, HourlySeries


def rolling_forecasts(
    model: Model,
    series: HourlySeries,
    start: int,
    horizon: int,
    refit_every: int,
    train_hours: int = 336,
    tally: WarningTally | None = None,
) -> FloatArray:
    """Forecast matrix (len(series) x horizon); NaN rows before ``start`` or on failure.

    Args:
        model: the model to run.
        series: the full history.
        start: first origin (index of the last hour the first fit sees).
        horizon: steps forecast from each origin.
        refit_every: hours between parameter estimations.
        train_hours: trailing hours each estimation sees.
        tally: where to count warnings.
    """
    out = np.full((len(series), horizon), np.nan)
    fitted: FittedModel | None = None
    since_fit = 0
    for t in range(start, len(series)):
        history = series.window(max(0, t + 1 - train_hours), t + 1)
        try:
            with counted_warnings(tally):
                if fitted is None or since_fit >= refit_every:
                    fitted, since_fit = model.fit(history), 0
                    if tally is not None:
                        tally.add(fit_warnings(fitted))
                else:
                    fitted = advance(model, fitted, history, 1)
                point = fitted.forecast(horizon)
        except FIT_ERRORS:
            fitted = None
            continue
        since_fit += 1
        if finite(point):
            out[t] = point
    return out


def errors_from(forecasts: FloatArray, actual: FloatArray) -> FloatArray:
    """Actual minus forecast per origin and step (NaN where unknown)."""
    n, horizon = forecasts.shape
    padded = np.concatenate([actual, np.full(horizon, np.nan)])
    idx = np.arange(n)[:, None] + np.arange(1, horizon + 1)[None, :]
    return np.asarray(padded[idx] - forecasts, dtype=np.float64)


def rolling_scale(actual: FloatArray, train_hours: int = 336, season: int = 24) -> FloatArray:
    """MASE scale per origin: seasonal-naive MAE over the trailing training window."""
    diffs = np.abs(actual[season:] - actual[:-season])
    cum = np.concatenate([[0.0], np.cumsum(diffs)])
    out = np.full(len(actual), np.nan)
    for t in range(season + 1, len(actual)):
        lo = max(0, t + 1 - train_hours)
        a, b = lo, t + 1 - season
        if b > a:
            out[t] = (cum[b] - cum[a]) / (b - a)
    return np.where(out > 0, out, 1.0)
