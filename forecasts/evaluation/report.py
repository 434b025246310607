"""The backtest report: accuracy per model and early-warning scores per rule (pure).

Used by ``backlog-monitor backtest`` and by ``benchmarks/forecasts/backtest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from forecasts.evaluation import accuracy, rules
from forecasts.evaluation.events import BoolArray, EventScore, score
from forecasts.evaluation.replay import FIRST_ORIGIN, Replay
from forecasts.rolling import errors_from
from forecasts.types import FloatArray, HourlySeries, hour_of_week

CANDIDATES = ("naive", "seasonal_naive", "flow", "drift", "ets", "ets_daily", "combo")
TEST_START = 504  # 21 days: the limit is the p90 of these first weeks, scoring starts after
HORIZON = 6
LIMIT_WEEKS = 3

LimitKind = Literal["fixed", "rolling"]


def fixed_limit(series: HourlySeries) -> float:
    """The protocol's limit: p90 of the open count over the first 21 days."""
    return float(np.percentile(series.open[:TEST_START], 90))


def rolling_limit(series: HourlySeries) -> FloatArray:
    """The sensitivity limit: from each Monday 00:00, the p90 of the trailing 3 weeks.

    Hours before the first Monday with three weeks behind it use the fixed limit.
    """
    n = len(series)
    out = np.full(n, fixed_limit(series))
    mondays = np.flatnonzero(hour_of_week(series.timestamps) == 0)
    span = LIMIT_WEEKS * 168
    for i, monday in enumerate(mondays):
        if monday < span:
            continue
        stop = int(mondays[i + 1]) if i + 1 < len(mondays) else n
        out[monday:stop] = np.percentile(series.open[monday - span : monday], 90)
    return out


LIMITS: dict[LimitKind, Callable[[HourlySeries], float | FloatArray]] = {
    "fixed": fixed_limit,
    "rolling": rolling_limit,
}


def accuracy_report(series: dict[str, HourlySeries], replays: dict[str, Replay]) -> dict[str, Any]:
    """Pooled and per-queue accuracy per model."""
    pooled: dict[str, dict[str, list[float]]] = {}
    per_queue: dict[str, dict[str, dict[str, float]]] = {}
    for queue, rep in replays.items():
        rows = accuracy.queue_rows(series[queue].open, rep.matrices, FIRST_ORIGIN, CANDIDATES)
        per_queue[queue] = {m: accuracy.summarise(r) for m, r in rows.items()}
        for model, r in rows.items():
            dest = pooled.setdefault(model, {k: [] for k in r})
            for k, v in r.items():
                dest[k].extend(v)
    overall = {m: accuracy.summarise(r) for m, r in pooled.items()}
    return {"overall": overall, "per_queue": per_queue}


def forecast_probability(
    actual: np.ndarray, rep: Replay, limit: rules.Limit, window: int, model: str
) -> np.ndarray:
    """Crossing probability within H of ``model``, calibrated on its past errors."""
    matrix = rep.matrices[model]
    errors = errors_from(matrix, actual)
    return rules.crossing_probability(matrix, errors, limit, HORIZON, window)


def rule_flags(
    actual: np.ndarray, rep: Replay, limit: rules.Limit, tuned: list[rules.ForecastRule]
) -> dict[str, BoolArray]:
    """Alerting flags per rule for one queue."""
    m = rep.matrices
    ets_err = errors_from(m["ets"], actual)
    flags = {
        "static avg_over_time(open[2h]) > L": rules.static_avg(actual, limit),
        "predict_linear(open[6h], 6h) > L for 1h": rules.predict_linear(
            m["linear_6h"], limit, 6, 1
        ),
        "predict_linear(open[24h], 6h) > L for 1h": rules.predict_linear(
            m["linear_24h"], limit, 6, 1
        ),
        "static warning avg_over_time(open[2h]) > 0.9 L": rules.static_avg(actual, 0.9 * limit),
        "ets upper 80% conformal band > L within 6h": rules.band_crosses(
            m["ets"], ets_err, limit, HORIZON, 0.8
        ),
    }
    cache: dict[tuple[str, int], np.ndarray] = {}
    for rule in tuned:
        key = (rule.model, rule.window)
        if key not in cache:
            cache[key] = forecast_probability(actual, rep, limit, rule.window, rule.model)
        flags[f"forecast rule {rule.model} p>={rule.alert} rec<{rule.recover} w={rule.window}"] = (
            rule.alerting(cache[key])
        )
    return flags


def early_warning(
    series: dict[str, HourlySeries],
    replays: dict[str, Replay],
    tuned: list[rules.ForecastRule],
    limits: LimitKind = "fixed",
) -> dict[str, dict[str, Any]]:
    """Event scores per rule, summed over the queues, against fixed or rolling limits."""
    totals: dict[str, EventScore] = {}
    for queue, rep in replays.items():
        actual = series[queue].open
        limit = LIMITS[limits](series[queue])
        for name, flags in rule_flags(actual, rep, limit, tuned).items():
            totals.setdefault(name, EventScore()).add(
                score(actual, limit, flags, TEST_START, HORIZON)
            )
    return {name: s.as_dict() for name, s in totals.items()}


TUNED: list[rules.ForecastRule] = [
    rules.ForecastRule(0.5, 0.25, 336, "warning"),
    rules.ForecastRule(0.5, 0.25, 336, "combo"),
    rules.ForecastRule(0.3, 0.15, 168, "warning"),
]
"""The forecast rules scored; the first is the chosen one (the daemon's defaults).
Thresholds and model were chosen on these same ServiceNow series (docs/forecasting.md)."""


def acc_keys() -> list[str]:
    """The accuracy table's columns."""
    return [f"{kind}_{h}h" for kind in ("mase", "mae", "coverage80") for h in (1, 6, 24)]
