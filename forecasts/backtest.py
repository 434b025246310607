"""Rolling-origin backtest of one model on one queue's own history.

Origins are spaced ``step`` hours apart and end ``max_horizon`` hours before the end
of the series, so every origin is scored on the full horizon. Parameters are
estimated at the first origin (and every ``refit_every`` origins when set); between
refits the fitted state is advanced cheaply (:func:`~forecasts.models.base.advance`),
which is how the daemon runs the models too. MASE follows M4: errors are scaled by
the training window's in-sample seasonal-naive (m=24) MAE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasts.fitwarnings import WarningTally, counted_warnings, fit_warnings
from forecasts.models.base import FittedModel, Model, advance, finite
from forecasts.types import FloatArray, HourlySeries

SEASON = 24
FIT_ERRORS = (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError)
"""What a failing fit may raise; any of these makes the model fall back to naive."""


@dataclass(frozen=True)
class BacktestConfig:
    """How a queue's history is backtested.

    Attributes:
        max_horizon: hours forecast from each origin.
        alert_horizon: the horizon selection is judged at.
        train_hours: trailing hours a fit sees.
        origins: maximum number of origins.
        step: hours between origins (5 rotates through the clock hours).
        refit_every: re-estimate parameters every this many origins; None = once.
    """

    max_horizon: int = 24
    alert_horizon: int = 6
    train_hours: int = 336
    origins: int = 60
    step: int = 5
    refit_every: int | None = None

    def origin_positions(self, n: int, min_train: int) -> list[int]:
        """Origin indices (exclusive ends of training data), oldest first."""
        last = n - self.max_horizon
        first_allowed = min_train
        pos = [last - i * self.step for i in range(self.origins)]
        return sorted(p for p in pos if p >= first_allowed)


@dataclass(frozen=True)
class ModelBacktest:
    """One model's backtest errors.

    Attributes:
        model: the model's name.
        errors: actual minus forecast, shape (origins, max_horizon).
        scales: the MASE scale at each origin.
        failed: the model raised or gave non-finite forecasts somewhere.
        warnings: warnings counted during fits.
    """

    model: str
    errors: FloatArray
    scales: FloatArray
    failed: bool
    warnings: WarningTally

    def mase(self, h: int) -> float:
        """Mean absolute scaled error at step ``h`` (1-based); inf when failed/empty."""
        if self.failed or not len(self.errors):
            return float("inf")
        return float(np.mean(np.abs(self.errors[:, h - 1]) / self.scales))

    def mae(self, h: int) -> float:
        """Mean absolute error at step ``h`` in tickets."""
        if self.failed or not len(self.errors):
            return float("inf")
        return float(np.mean(np.abs(self.errors[:, h - 1])))


def mase_scale(open_: FloatArray, season: int = SEASON) -> float:
    """In-sample seasonal-naive MAE (falls back to m=1, then 1.0, when degenerate)."""
    for m in (season, 1):
        if len(open_) > m:
            scale = float(np.mean(np.abs(open_[m:] - open_[:-m])))
            if scale > 0:
                return scale
    return 1.0


def _fit_or_advance(
    model: Model,
    fitted: FittedModel | None,
    series: HourlySeries,
    new: int,
    refit: bool,
    tally: WarningTally,
) -> FittedModel:
    if fitted is None or refit:
        fresh = model.fit(series)
        tally.add(fit_warnings(fresh))
        return fresh
    return advance(model, fitted, series, new)


def backtest_model(model: Model, series: HourlySeries, config: BacktestConfig) -> ModelBacktest:
    """Backtest ``model`` on ``series`` with rolling origins.

    Args:
        model: the model to score.
        series: the queue's history.
        config: origins, horizons and refit policy.

    Returns:
        Errors per origin and step; ``failed`` when any fit raised or was non-finite.
    """
    positions = config.origin_positions(len(series), max(model.min_history, SEASON + 1))
    h = config.max_horizon
    errors = np.zeros((len(positions), h))
    scales = np.ones(len(positions))
    tally = WarningTally()
    fitted: FittedModel | None = None
    prev = 0
    for i, pos in enumerate(positions):
        train = series.window(max(0, pos - config.train_hours), pos)
        refit = config.refit_every is not None and i % config.refit_every == 0
        try:
            with counted_warnings(tally):
                fitted = _fit_or_advance(model, fitted, train, pos - prev, refit, tally)
                point = fitted.forecast(h)
        except FIT_ERRORS:
            return ModelBacktest(model.name, errors[:0], scales[:0], True, tally)
        if not finite(point):
            return ModelBacktest(model.name, errors[:0], scales[:0], True, tally)
        errors[i] = series.open[pos : pos + h] - point
        scales[i] = mase_scale(train.open)
        prev = pos
    return ModelBacktest(model.name, errors, scales, False, tally)
