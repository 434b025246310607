"""Backtest the shipping forecasts on the real ServiceNow queues: accuracy and early warning.

Run ``python -m benchmarks.forecasts.backtest`` from the project root. It builds the
protocol's hourly series (the total and the 22 assignment groups with a mean open
count of at least 20, 2016-03-14 .. 2016-05-31) from ``tests/data`` (or reads
``--csv``), replays the forecast engine hour by hour exactly as the daemon runs it
(``monitor/backtest.py``, the code behind ``backlog-monitor backtest``), prints
MASE/MAE/coverage at 1/6/24 h per model and the early-warning tables per
forecasting.md's protocol, and writes a JSON report to ``benchmarks/results/``.
These queues are in-sample for nothing the engine does, but the forecast rule's
parameters were cross-validated with them in the training logs: the held-out
figures are those of ``benchmarks.forecasts.crossval``.
``--charts DIR`` also draws a PNG per queue (needs the ``plot`` extra: matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.forecasts.series import build_frame, read_csv, to_series
from forecasts.engine import EngineSettings
from forecasts.evaluation.replay import replay_all
from forecasts.types import HourlySeries
from monitor.backtest import RULE, build_report, print_report, questions_for
from monitor.charts import figure_class, write_charts
from monitor.errors import MissingExtra

RESULTS = Path(__file__).resolve().parents[1] / "results"


def load(csv: Path | None) -> dict[str, HourlySeries]:
    """Series per queue from ``csv``, or built from the real log (and saved as CSV)."""
    if csv is not None:
        return read_csv(csv)
    frame = build_frame()
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame.to_csv(RESULTS / "servicenow_hourly_groups.csv", index=False)
    return to_series(frame)


def optional_float(text: str) -> float | None:
    """A number, or None for ``none``."""
    return None if text.lower() == "none" else float(text)


def main(argv: list[str] | None = None) -> None:
    """Run the backtest and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--csv", type=Path, help="hourly CSV: timestamp,queue,open,created,resolved"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--charts", type=Path, metavar="DIR", help="also write a PNG per queue")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "forecasts_backtest.json",
        help="the JSON report (default: benchmarks/results/forecasts_backtest.json)",
    )
    parser.add_argument(
        "--calibration-prior",
        type=optional_float,
        default=EngineSettings().calibration_prior,
        metavar="C|none",
        help="the engine's calibration_prior (default: the shipped default)",
    )
    parser.add_argument(
        "--burst-jump",
        type=optional_float,
        default=EngineSettings().burst_jump,
        metavar="J|none",
        help="the engine's burst_jump (default: the shipped default)",
    )
    parser.add_argument(
        "--min-probability",
        type=float,
        default=RULE["min_probability"],
        metavar="P",
        help="the scored forecast rule's min_probability (default: the recommended rule's)",
    )
    parser.add_argument(
        "--recover-probability",
        type=float,
        default=RULE["recover_probability"],
        metavar="P",
        help="the scored forecast rule's recover_probability (default: the recommended rule's)",
    )
    parser.add_argument(
        "--for-hours",
        type=int,
        default=0,
        metavar="N",
        help="the scored forecast rule's `for`, in hours (default: 0, the recommended rule's)",
    )
    args = parser.parse_args(argv)
    rule = {
        **RULE,
        "min_probability": args.min_probability,
        "recover_probability": args.recover_probability,
        "for": f"{args.for_hours}h",
    }
    settings = replace(
        EngineSettings(), calibration_prior=args.calibration_prior, burst_jump=args.burst_jump
    )
    if args.charts is not None:
        try:
            figure_class()
        except MissingExtra as err:
            parser.error(str(err))
    started = time.perf_counter()
    series = load(args.csv)
    replays = replay_all(series, settings, lambda q, s: questions_for(q, s, ()), args.workers)
    report, alerting = build_report(series, replays, scored_rule=rule)
    report["engine_answers"] = {
        "calibration_prior": settings.calibration_prior,
        "burst_jump": settings.burst_jump,
    }
    report["scored_rule"] = rule
    print_report(report, sys.stdout)
    report["seconds"] = time.perf_counter() - started
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {out} in {report['seconds']:.0f} s")
    if args.charts is not None:
        written = write_charts(series, replays, alerting, args.charts)
        print(f"wrote {len(written)} charts to {args.charts}")


if __name__ == "__main__":
    main()
