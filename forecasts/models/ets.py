"""Damped additive Holt-Winters (ETS A,Ad,A) with daily, then weekly, seasonality.

Parameters are estimated by statsmodels ``ExponentialSmoothing`` (rarely: at ``fit``);
afterwards the state (level, trend, seasonal indices) is advanced by the Holt-Winters
recursion in numpy (:meth:`FittedEts.update`), which costs microseconds per hour.
Seasonality is daily (24 h) until the history holds three weeks, weekly (168 h) after,
with statsmodels' heuristic initialisation and only the four smoothing parameters
optimised, so an estimation costs about 25 ms (see :func:`_fit_statsmodels`).

``estimation="joint"`` estimates the initial states with the parameters instead, as
a full statsmodels refit does, by :mod:`forecasts.models.ets_joint` (concentrated
least squares, warm-started from the previous estimate): a full refit's accuracy at
a few percent of its cost; the engine re-estimates it daily
(``engine.ETS_REFIT_HOURS``; docs/forecasting.md, Cost). Both estimations run on one
BLAS thread (:func:`forecasts.blas.one_blas_thread`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from forecasts.blas import one_blas_thread
from forecasts.fitwarnings import WarningTally, counted_warnings
from forecasts.models import ets_joint
from forecasts.models.base import FittedModel, finite, require_history
from forecasts.types import FloatArray, HourlySeries

WEEKLY_AFTER_HOURS = 21 * 24

EtsEstimation = Literal["heuristic", "joint"]
"""How parameters are estimated: heuristic initial states (four parameters searched),
or initial states estimated jointly with the parameters (a full refit's objective)."""


@dataclass(frozen=True)
class EtsParams:
    """Smoothing parameters of additive damped Holt-Winters."""

    alpha: float
    beta: float
    gamma: float
    phi: float


@dataclass(frozen=True)
class FittedEts:
    """Estimated parameters plus the state at the last hour.

    Attributes:
        params: smoothing and damping parameters.
        level: level at the last hour.
        trend: trend at the last hour.
        season: the last ``m`` seasonal indices, oldest first.
        warnings: warnings counted while estimating.
    """

    params: EtsParams
    level: float
    trend: float
    season: FloatArray
    warnings: WarningTally

    def forecast(self, h: int) -> FloatArray:
        """Damped-trend plus seasonal point forecasts for hours 1..h."""
        steps = np.arange(1, h + 1)
        damp = np.cumsum(self.params.phi ** steps.astype(np.float64))
        m = len(self.season)
        return np.asarray(
            self.level + damp * self.trend + self.season[(steps - 1) % m], dtype=np.float64
        )

    def update(self, new: HourlySeries) -> FittedModel:
        """Advance the state over the new hours with the parameters kept."""
        p = self.params
        lvl, tr = self.level, self.trend
        season = list(self.season)
        for y in new.open:
            s_old = season.pop(0)
            prev = lvl + p.phi * tr
            lvl = p.alpha * (float(y) - s_old) + (1 - p.alpha) * prev
            tr = p.beta * (lvl - (prev - p.phi * tr)) + (1 - p.beta) * p.phi * tr
            season.append(p.gamma * (float(y) - prev) + (1 - p.gamma) * s_old)
        return FittedEts(p, lvl, tr, np.asarray(season, dtype=np.float64), self.warnings)


def _fit_statsmodels(values: FloatArray, period: int, full: bool = False) -> Any:
    """Holt-Winters estimated by statsmodels.

    By default the initial level, trend and season come from statsmodels' heuristic
    (a decomposition of the first seasons) and only the four smoothing parameters are
    optimised, without the brute-force starting grid: about 25 ms on 336 hourly
    points instead of about 600-900 ms when the 26 initial states are estimated too
    (``full``). benchmarks/forecasts/speed.py measures the accuracy of both.
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(
        pd.Series(values),
        trend="add",
        damped_trend=True,
        seasonal="add",
        seasonal_periods=period,
        initialization_method="estimated" if full else "heuristic",
    )
    return model.fit(use_brute=full)


@dataclass(frozen=True)
class EtsModel:
    """ETS(A,Ad,A) via Holt-Winters.

    Attributes:
        max_history: hours used for estimation (the most recent).
        weekly: allow weekly seasonality once three weeks are available.
        estimation: "heuristic" (default) or "joint" (:mod:`forecasts.models.ets_joint`).
    """

    max_history: int = 336
    weekly: bool = True
    estimation: EtsEstimation = "heuristic"
    name: ClassVar[str] = "ets"
    min_history: ClassVar[int] = 48

    def period_for(self, n: int) -> int:
        """Season length used for a history of ``n`` hours."""
        return 168 if self.weekly and n >= WEEKLY_AFTER_HOURS else 24

    def fit(self, series: HourlySeries) -> FittedModel:
        """Estimate parameters and the final state; raise on non-finite results."""
        return self.refit(series, None)

    def refit(self, series: HourlySeries, previous: FittedModel | None) -> FittedModel:
        """Estimate on ``series``, starting from ``previous``'s parameters when joint.

        The heuristic estimation ignores ``previous``; the joint one starts its search
        there when it beats a small grid (a warm start), else from the grid's best.
        """
        require_history(series, self.min_history, self.name)
        n = min(len(series), self.max_history)
        if self.weekly and len(series) >= WEEKLY_AFTER_HOURS:
            n = min(len(series), max(self.max_history, WEEKLY_AFTER_HOURS))
        train = series.tail(n)
        period = self.period_for(n)
        with one_blas_thread():
            if self.estimation == "joint":
                fitted = _fit_joint(train, period, previous)
            else:
                fitted = _fit_heuristic(train.open, period)
        if not finite(fitted.forecast(period)):
            raise FloatingPointError("ets produced non-finite forecasts")
        return fitted


def _fit_heuristic(values: FloatArray, period: int) -> FittedEts:
    """statsmodels with heuristic initial states (see :func:`_fit_statsmodels`)."""
    with counted_warnings() as tally:
        res = _fit_statsmodels(values, period)
    prm = res.params
    params = EtsParams(
        float(prm["smoothing_level"]),
        float(prm["smoothing_trend"]),
        float(prm["smoothing_seasonal"]),
        float(prm["damping_trend"]),
    )
    season = np.asarray(res.season, dtype=np.float64)[-period:]
    return FittedEts(params, float(res.level.iloc[-1]), float(res.trend.iloc[-1]), season, tally)


def _fit_joint(train: HourlySeries, period: int, previous: FittedModel | None) -> FittedEts:
    """Joint estimation, then the engine's own recursion run to the last hour."""
    start = None
    if isinstance(previous, FittedEts) and len(previous.season) == period:
        p = previous.params
        start = (p.alpha, p.beta, p.gamma, p.phi)
    with counted_warnings() as tally:
        est = ets_joint.estimate(train.open, period, start)
    initial = FittedEts(EtsParams(*est.params), est.level, est.trend, est.season, tally)
    run = initial.update(train)
    assert isinstance(run, FittedEts)
    return run


@dataclass(frozen=True)
class EtsDailyModel(EtsModel):
    """ETS(A,Ad,A) with the daily season only (weekly measured worse on ServiceNow)."""

    weekly: bool = False
    name: ClassVar[str] = "ets_daily"
