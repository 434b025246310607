"""Per-queue model selection by rolling-origin backtest, with naive as the fallback.

Every candidate is backtested on the queue's own history; the one with the lowest
MASE at the alert horizon wins, provided it beats naive by :data:`SWITCH_MARGIN`.
A model that fails, gives non-finite values or lacks history is dropped; naive
is always a candidate and wins ties. Too short a history for any backtest gives
``insufficient_history`` (naive, never a guess). Run it on a schedule (daily, say);
between runs the chosen model's state is updated hourly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasts.backtest import BacktestConfig, ModelBacktest, backtest_model
from forecasts.fitwarnings import WarningTally
from forecasts.models.base import Model
from forecasts.models.naive import NaiveModel
from forecasts.types import FloatArray, ForecastStatus, HourlySeries

MIN_ORIGINS = 10
"""Fewer backtest origins than this cannot calibrate bands: insufficient history."""

SWITCH_MARGIN = 0.02
"""A model replaces naive only when its MASE is at least this much (relative) lower:
on ServiceNow, switching on noise-level gains made the selection worse than naive."""


@dataclass(frozen=True)
class Selection:
    """The outcome of one selection run for one queue.

    Attributes:
        model: name of the chosen model.
        status: ``ok``, ``fallback`` (no candidate beat or survived) or
            ``insufficient_history``.
        mase: MASE at the alert horizon per candidate (inf when it failed).
        residuals: the chosen model's backtest errors (origins x steps); may be empty.
        warnings: warnings counted across all candidates' fits.
    """

    model: str
    status: ForecastStatus
    mase: dict[str, float]
    residuals: FloatArray
    warnings: WarningTally

    @property
    def chosen_mase(self) -> float | None:
        """The chosen model's MASE at the alert horizon, when backtested."""
        value = self.mase.get(self.model)
        return value if value is not None and value != float("inf") else None


def min_history(config: BacktestConfig) -> int:
    """Hours needed before a backtest with MIN_ORIGINS origins is possible."""
    return 25 + config.max_horizon + (MIN_ORIGINS - 1) * config.step


def select_model(
    series: HourlySeries,
    candidates: Sequence[Model],
    config: BacktestConfig | None = None,
) -> Selection:
    """Backtest every candidate plus naive and choose by MASE at the alert horizon.

    Args:
        series: the queue's history.
        candidates: models to try (naive is added when missing).
        config: backtest settings; defaults when None.

    Returns:
        The selection; ``insufficient_history`` when the series is too short.
    """
    cfg = config or BacktestConfig()
    naive = NaiveModel()
    if len(series) < min_history(cfg):
        return Selection(naive.name, "insufficient_history", {}, _empty(cfg), WarningTally())
    models = [naive, *(m for m in candidates if m.name != naive.name)]
    tally = WarningTally()
    results: dict[str, ModelBacktest] = {}
    for model in models:
        result = backtest_model(model, series, cfg)
        tally.add(result.warnings)
        if len(result.errors) >= MIN_ORIGINS or result.failed:
            results[model.name] = result
    scores = {name: r.mase(cfg.alert_horizon) for name, r in results.items()}
    best = min(scores, key=lambda name: (scores[name], name != naive.name))
    if scores[best] >= (1 - SWITCH_MARGIN) * scores[naive.name]:
        best = naive.name
    failed = any(r.failed for r in results.values())
    status: ForecastStatus = "fallback" if best == naive.name and failed else "ok"
    return Selection(best, status, scores, results[best].errors, tally)


def _empty(config: BacktestConfig) -> FloatArray:
    return np.zeros((0, config.max_horizon))
