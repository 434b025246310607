"""Backtest the forecasts on the real ServiceNow queues: accuracy and early warning.

Run ``python -m benchmarks.forecasts.backtest`` from the project root. It builds the
hourly series per assignment group from the packaged fixture (or reads ``--csv``),
replays every model hourly over 2016-03-14 .. 2016-05-31, prints MASE/MAE/coverage at
1/6/24 h per model and overall, scores the early-warning rules as events per
forecasting.md's protocol, and writes a JSON report to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.forecasts import accuracy, rules
from benchmarks.forecasts.events import BoolArray, EventScore, score
from benchmarks.forecasts.replay import FIRST_ORIGIN, Replay, replay_all
from benchmarks.forecasts.series import build_frame, read_csv, to_series
from forecasts.rolling import errors_from
from forecasts.types import HourlySeries

RESULTS = Path(__file__).resolve().parents[1] / "results"
CANDIDATES = ("naive", "seasonal_naive", "flow", "ets", "ets_daily", "combo")
RULE_MODEL = "combo"
TEST_START = 504  # 2016-04-04 00:00, after 21 days
HORIZON = 6


def load(csv: Path | None) -> dict[str, HourlySeries]:
    """Series per queue from ``csv``, or built from the fixture (and saved as CSV)."""
    if csv is not None:
        return read_csv(csv)
    frame = build_frame()
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame.to_csv(RESULTS / "servicenow_hourly_groups.csv", index=False)
    return to_series(frame)


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


def forecast_probability(actual: np.ndarray, rep: Replay, limit: float, window: int) -> np.ndarray:
    """Crossing probability within H of the rule's model, calibrated on its past errors."""
    matrix = rep.matrices[RULE_MODEL]
    errors = errors_from(matrix, actual)
    return rules.crossing_probability(matrix, errors, limit, HORIZON, window)


def rule_flags(
    actual: np.ndarray, rep: Replay, limit: float, tuned: list[rules.ForecastRule]
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
    cache: dict[int, np.ndarray] = {}
    for rule in tuned:
        if rule.window not in cache:
            cache[rule.window] = forecast_probability(actual, rep, limit, rule.window)
        flags[f"forecast rule {RULE_MODEL} p>={rule.alert} rec<{rule.recover} w={rule.window}"] = (
            rule.alerting(cache[rule.window])
        )
    return flags


def early_warning(
    series: dict[str, HourlySeries], replays: dict[str, Replay], tuned: list[rules.ForecastRule]
) -> dict[str, dict[str, Any]]:
    """Event scores per rule, summed over the queues."""
    totals: dict[str, EventScore] = {}
    for queue, rep in replays.items():
        actual = series[queue].open
        limit = float(np.percentile(actual[:TEST_START], 90))
        for name, flags in rule_flags(actual, rep, limit, tuned).items():
            totals.setdefault(name, EventScore()).add(
                score(actual, limit, flags, TEST_START, HORIZON)
            )
    return {name: s.as_dict() for name, s in totals.items()}


def print_accuracy(report: dict[str, Any]) -> None:
    """The overall accuracy table."""
    print(f"{'model':18s} " + " ".join(f"{k:>11s}" for k in _acc_keys()))
    for model, row in report["overall"].items():
        print(f"{model:18s} " + " ".join(f"{row[k]:11.3f}" for k in _acc_keys()))


def _acc_keys() -> list[str]:
    return [f"{kind}_{h}h" for kind in ("mase", "mae", "coverage80") for h in (1, 6, 24)]


def print_events(report: dict[str, dict[str, Any]]) -> None:
    """The early-warning table."""
    print(f"{'rule':58s} caught  flag+1  prec   lead  FA/wk  FAh/wk")
    for name, r in report.items():
        prec = "  -  " if r["precision"] is None else f"{r['precision']:.2f}"
        lead = "  -" if r["median_lead_h"] is None else f"{r['median_lead_h']:4.1f}"
        print(
            f"{name:58s} {r['caught_before_onset']:2d}/{r['episodes']:<3d} "
            f"{r['flagged_by_onset_plus_1']:2d}/{r['episodes']:<3d} {prec}  {lead} "
            f"{r['false_alarms_per_series_week']:6.2f} "
            f"{r['false_alert_hours_per_series_week']:6.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    """Run the backtest and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--csv", type=Path, help="hourly CSV: timestamp,queue,open,created,resolved"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replay-cache", type=Path, help="pickle of replays to reuse/write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    series = load(args.csv)
    if args.replay_cache and args.replay_cache.exists():
        replays = pickle.loads(args.replay_cache.read_bytes())
    else:
        replays = replay_all(series, args.workers)
        if args.replay_cache:
            args.replay_cache.write_bytes(pickle.dumps(replays))
    acc = accuracy_report(series, replays)
    print_accuracy(acc)
    tuned = [rules.ForecastRule(a, r, w) for a, r, w in TUNED]
    events = early_warning(series, replays, tuned)
    print_events(events)
    warnings = {q: r.warnings for q, r in replays.items()}
    report = {
        "queues": list(series),
        "accuracy": acc,
        "early_warning": events,
        "warnings": warnings,
        "seconds": time.perf_counter() - started,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "forecasts_backtest.json"
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {out} in {report['seconds']:.0f} s")


TUNED: list[tuple[float, float, int]] = [(0.5, 0.25, 336), (0.3, 0.15, 168), (0.2, 0.1, 168)]
"""(alert probability, recovery probability, calibration window h); the first is the
chosen rule. Tuned on these same ServiceNow series (see docs/forecasting.md)."""

if __name__ == "__main__":
    main()
