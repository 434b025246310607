"""The backtest report: accuracy per model and early-warning scores per rule (pure).

Used by ``backlog-monitor backtest`` and the benchmarks. The limits follow
forecasting.md's protocol: the p90 of each queue's first three weeks (fixed), or,
as a sensitivity check, from each Monday the p90 of the trailing three weeks. The
forecast rule's alerting hours come from the caller (``monitor/backtest.py`` runs
the real rule evaluation); the anchors' rules are computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from forecasts.evaluation import accuracy, rules
from forecasts.evaluation.events import BoolArray, EventScore, score
from forecasts.evaluation.replay import Question, Replay
from forecasts.types import FloatArray, HourlySeries, hour_of_week

FIRST_ORIGIN = 335  # 14 days of history before the first scored origin
TEST_START = 504  # 21 days: the limit is the p90 of these first weeks, scoring starts after
HORIZON = 6
LIMIT_WEEKS = 3

LimitKind = Literal["fixed", "rolling"]
STATIC = "static avg_over_time(open[2h]) > L"
BAND = "ETS upper 80% conformal band > L within 6h"


def fixed_limit(series: HourlySeries, test_start: int = TEST_START) -> float:
    """The protocol's limit: p90 of the open count over the first 21 days."""
    return float(np.percentile(series.open[:test_start], 90))


def rolling_limit(series: HourlySeries, test_start: int = TEST_START) -> FloatArray:
    """The sensitivity limit: from each Monday 00:00, the p90 of the trailing 3 weeks.

    Hours before the first Monday with three weeks behind it use the fixed limit.
    """
    n = len(series)
    out = np.full(n, fixed_limit(series, test_start))
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


def limit_series(series: HourlySeries, kind: LimitKind) -> FloatArray:
    """The limit in force at each hour."""
    return rules.per_hour(LIMITS[kind](series), len(series)).copy()


def band_questions(series: HourlySeries) -> list[Question]:
    """The Datadog-style ETS band baseline, asked of the replay at both kinds of limit."""
    return [
        Question(f"band/{kind}", limit_series(series, kind), HORIZON, "ets_daily", band=True)
        for kind in LIMITS
    ]


def accuracy_report(
    series: Mapping[str, HourlySeries], replays: Mapping[str, Replay]
) -> dict[str, Any]:
    """Pooled and per-queue accuracy per model."""
    pooled: dict[str, dict[str, list[float]]] = {}
    per_queue: dict[str, dict[str, dict[str, float]]] = {}
    for queue, rep in replays.items():
        rows = accuracy.queue_rows(series[queue].open, rep, FIRST_ORIGIN)
        per_queue[queue] = {m: accuracy.summarise(r) for m, r in rows.items()}
        for model, r in rows.items():
            dest = pooled.setdefault(model, {k: [] for k in r})
            for k, v in r.items():
                dest[k].extend(v)
    overall = {m: accuracy.summarise(r) for m, r in pooled.items()}
    return {"overall": overall, "per_queue": per_queue}


def anchor_flags(
    actual: FloatArray, rep: Replay, kind: LimitKind, limit: FloatArray
) -> dict[str, BoolArray]:
    """Alerting flags per hour of forecasting.md's anchor rules for one queue."""
    return {
        STATIC: rules.static_avg(actual, limit),
        "predict_linear(open[6h], 6h) > L for 1h": rules.predict_linear(actual, limit, 6, 6, 1),
        "predict_linear(open[24h], 6h) > L for 1h": rules.predict_linear(actual, limit, 24, 6, 1),
        "naive + 6h net inflow x h > L within 6h": rules.net_inflow(actual, limit),
        "static warning avg_over_time(open[2h]) > 0.9 L": rules.static_avg(actual, 0.9 * limit),
        BAND: rep.probabilities[f"band/{kind}"] > 0.5,
    }


def score_queue(
    actual: FloatArray, limit: FloatArray, flags: Mapping[str, BoolArray], test_start: int
) -> dict[str, EventScore]:
    """Event scores per rule on one queue (the static rule's precision at detection)."""
    out = {}
    for name, alerting in flags.items():
        result = score(actual, limit, alerting, test_start, HORIZON)
        if name == STATIC:  # it alerts once a breach has begun: scored by onset + 1
            detected = score(actual, limit, alerting, test_start, HORIZON, until=1)
            result.credited_runs, result.false_runs = detected.credited_runs, detected.false_runs
        out[name] = result
    return out


def summed(scores: Mapping[str, Mapping[str, EventScore]]) -> dict[str, dict[str, Any]]:
    """Per rule, the protocol's figures over every queue of ``scores`` (queue -> rule)."""
    totals: dict[str, EventScore] = {}
    for per_rule in scores.values():
        for name, s in per_rule.items():
            totals.setdefault(name, EventScore()).add(s)
    return {name: s.as_dict() for name, s in totals.items()}


SCORE_HEADER = "caught  flag+1  prec  lead  FA/wk  FAh/wk"
"""The columns of :func:`score_row`."""


def score_row(label: str, figures: Mapping[str, Any], width: int = 62) -> str:
    """One early-warning table row: caught and flagged counts, precision, lead, false alarms."""
    r = figures
    precision = "  - " if r["precision"] is None else f"{r['precision']:.2f}"
    lead = "  - " if r["median_lead_h"] is None else f"{r['median_lead_h']:4.1f}"
    return (
        f"{label:{width}s} {r['caught_before_onset']:3d}/{r['episodes']:<3d} "
        f"{r['flagged_by_onset_plus_1']:3d}/{r['episodes']:<3d} {precision} {lead} "
        f"{r['false_alarms_per_series_week']:6.2f} "
        f"{r['false_alert_hours_per_series_week']:6.2f}"
    )


def acc_keys() -> list[str]:
    """The accuracy table's columns."""
    return [f"{kind}_{h}h" for kind in ("mase", "mae", "coverage80") for h in (1, 6, 24)]
