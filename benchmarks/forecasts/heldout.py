"""Score the forecasts on ServiceNow queues the rule was not tuned on.

The forecast rule's model and thresholds were chosen on the assignment groups. This
splits the same incident log another way (by ``category`` by default, or ``location``
or ``subcategory``), keeps every queue with a mean open count of at least 20 in the
protocol's window, and runs the same replay and report: accuracy per model and the
early-warning tables at a fixed and a rolling limit. The partitions overlap the groups'
tickets, so this is a check on different series and breach episodes, not on another
organisation's data.

Run ``python -m benchmarks.forecasts.heldout [--by category]`` from the project root;
it writes ``benchmarks/results/forecasts_heldout_<by>.json`` and the series CSV.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.forecasts.series import END, MIN_MEAN_OPEN, START, hourly, to_series
from forecasts.evaluation.replay import replay_all
from monitor.backtest import build_report, print_report
from tests.data import SERVICENOW_LOG

LOG = SERVICENOW_LOG
RESULTS = Path(__file__).resolve().parents[1] / "results"
DATES = "%d/%m/%Y %H:%M"


def incidents(path: Path, by: str) -> pd.DataFrame:
    """One row per incident: opened, ended (resolved, else closed) and the last ``by``."""
    raw = pd.read_csv(
        path, usecols=["number", "sys_updated_at", "opened_at", by, "resolved_at", "closed_at"]
    )
    raw["updated"] = pd.to_datetime(raw["sys_updated_at"], format=DATES)
    last = raw.sort_values("updated").groupby("number").tail(1)
    opened = pd.to_datetime(last["opened_at"], format=DATES)
    resolved = pd.to_datetime(last["resolved_at"].replace("?", None), format=DATES)
    closed = pd.to_datetime(last["closed_at"].replace("?", None), format=DATES)
    return pd.DataFrame(
        {"queue": last[by].astype(str), "opened": opened, "ended": resolved.fillna(closed)}
    )


def frame(tickets: pd.DataFrame) -> pd.DataFrame:
    """Hourly open/created/resolved per queue with a mean open count of at least 20."""
    hours = np.arange(START, END + np.timedelta64(1, "h"), dtype="datetime64[h]")
    frames = []
    for queue, rows in tickets.groupby("queue", sort=True):
        if queue == "?":
            continue
        opened = rows["opened"].to_numpy(dtype="datetime64[m]")
        ended = rows["ended"].to_numpy(dtype="datetime64[m]")
        series = hourly(opened, ended, hours)
        if series["open"].mean() >= MIN_MEAN_OPEN:
            frames.append(series.assign(queue=str(queue)))
    long = pd.concat(frames, ignore_index=True)
    return long[["timestamp", "queue", "open", "created", "resolved"]]


def main(argv: list[str] | None = None) -> None:
    """Build the held-out series, replay, print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--by", default="category", choices=("category", "location", "subcategory"))
    parser.add_argument("--log", type=Path, default=LOG)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    long = frame(incidents(args.log, args.by))
    RESULTS.mkdir(parents=True, exist_ok=True)
    long.to_csv(RESULTS / f"servicenow_hourly_{args.by}.csv", index=False)
    series = to_series(long)
    print(f"{len(series)} queues by {args.by} with mean open >= {MIN_MEAN_OPEN:g}")
    report = build_report(series, replay_all(series, args.workers))
    print_report(report, sys.stdout)
    report["seconds"] = time.perf_counter() - started
    out = RESULTS / f"forecasts_heldout_{args.by}.json"
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
