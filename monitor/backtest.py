"""``backlog-monitor backtest``: every forecast model and the forecast rule, replayed.

Reads hourly series from a CSV (``timestamp[,queue],open,created,resolved``) or from the
store's hourly rollups, replays every model at every hour (rolling origins), and
reports MASE, MAE and 80% band coverage at 1/6/24 h per model (overall and per queue)
and, as events, the forecast rule against ``predict_linear`` and the static 2-hour
average at the same limit: the p90 of each queue's first three weeks, and, as a
sensitivity check, a rolling limit (each Monday, the p90 of the trailing three weeks).
With ``charts``, it also draws a PNG per queue (``monitor/charts.py``, needs the
optional ``plot`` extra).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from forecasts.evaluation.replay import Replay, replay_all
from forecasts.evaluation.report import (
    LIMITS,
    TEST_START,
    TUNED,
    acc_keys,
    accuracy_report,
    early_warning,
)
from forecasts.types import HourlySeries
from monitor.charts import figure_class, write_charts
from monitor.errors import ConfigError
from monitor.forecasting import hourly
from monitor.store import history
from monitor.store.engine import open_store
from monitor.tools import ProgressBar


def read_csv(path: Path) -> dict[str, HourlySeries]:
    """Series per queue from an hourly CSV; a file without a queue column is queue ``all``."""
    rows: dict[str, list[tuple[np.datetime64, float, float, float]]] = defaultdict(list)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    rows[row.get("queue") or "all"].append(
                        (
                            np.datetime64(row["timestamp"].replace(" ", "T"), "h"),
                            float(row["open"]),
                            float(row.get("created") or 0),
                            float(row.get("resolved") or 0),
                        )
                    )
                except (KeyError, ValueError) as exc:
                    raise ConfigError([(f"line {line}", f"bad row: {exc}")], str(path)) from None
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    out = {}
    for queue, points in rows.items():
        points.sort()
        stamps, open_, created, resolved = zip(*points, strict=True)
        out[queue] = HourlySeries.from_arrays(stamps, open_, created, resolved)
    return out


def read_store(url: str) -> dict[str, HourlySeries]:
    """Series per ``source/queue`` from the store's hourly rollups."""
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            rollups = history.rollup_series(
                conn, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC)
            )
    finally:
        engine.dispose()
    out = {}
    for (source, queue), rows in rollups.items():
        out[f"{source}/{queue}"] = hourly(rows, rows[-1]["hour"] + timedelta(hours=1))
    return out


def run(
    series: dict[str, HourlySeries],
    output: Path | None,
    workers: int = 2,
    progress: bool | None = None,
    out: TextIO | None = None,
    charts: Path | None = None,
) -> int:
    """Replay, score, print the tables, write the JSON report and, optionally, the charts.

    With ``charts``, matplotlib must be installed: checked before the (long) replay,
    :class:`~monitor.errors.MissingExtra` otherwise.
    """
    out = out or sys.stdout
    if charts is not None:
        figure_class()
    usable = {q: s for q, s in series.items() if len(s) > TEST_START + 24}
    for queue in sorted(set(series) - set(usable)):
        out.write(
            f"{queue}: insufficient_history ({len(series[queue])} h; "
            f"need more than {TEST_START + 24})\n"
        )
    if not usable:
        return 1
    show = sys.stderr.isatty() if progress is None else progress
    bar = ProgressBar(sys.stderr, "backtesting queues") if show else None
    replays = replay_all(usable, workers, bar)
    report = build_report(usable, replays)
    print_report(report, out)
    if output is not None:
        output.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
        out.write(f"report written to {output}\n")
    if charts is not None:
        written = write_charts(usable, replays, charts)
        out.write(f"{len(written)} chart{'s' if len(written) != 1 else ''} written to {charts}\n")
    return 0


def build_report(series: dict[str, HourlySeries], replays: dict[str, Replay]) -> dict[str, Any]:
    """Accuracy per model, and early-warning scores per rule at each kind of limit."""
    return {
        "queues": list(series),
        "accuracy": accuracy_report(series, replays),
        "early_warning": early_warning(series, replays, TUNED, "fixed"),
        "early_warning_rolling_limit": early_warning(series, replays, TUNED, "rolling"),
        "warnings": {q: r.warnings for q, r in replays.items()},
    }


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The accuracy table, then one early-warning table per kind of limit."""
    out.write(f"{'model':16s} " + " ".join(f"{k:>13s}" for k in acc_keys()) + "\n")
    for model, row in report["accuracy"]["overall"].items():
        out.write(f"{model:16s} " + " ".join(f"{row[k]:13.3f}" for k in acc_keys()) + "\n")
    for kind in LIMITS:
        key = "early_warning" if kind == "fixed" else "early_warning_rolling_limit"
        out.write(f"\n{kind + ' limit':54s} caught  flag+1  prec  lead  FA/wk  FAh/wk\n")
        for name, r in report[key].items():
            precision = "  - " if r["precision"] is None else f"{r['precision']:.2f}"
            lead = "  - " if r["median_lead_h"] is None else f"{r['median_lead_h']:4.1f}"
            out.write(
                f"{name:54s} {r['caught_before_onset']:2d}/{r['episodes']:<3d} "
                f"{r['flagged_by_onset_plus_1']:2d}/{r['episodes']:<3d} {precision} {lead} "
                f"{r['false_alarms_per_series_week']:6.2f} "
                f"{r['false_alert_hours_per_series_week']:6.2f}\n"
            )
