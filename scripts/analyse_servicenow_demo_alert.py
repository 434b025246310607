"""Check the ServiceNow fixture and choose the demo alert's start time and LIMIT.

Reads ``monitor/demo/data/servicenow_incidents.csv.gz`` (see
``scripts/derive_servicenow_fixture.py``) and prints a Markdown report, the content of
``monitor/demo/data/ANALYSIS.md``:

1. the hourly open count from the fixture against ``servicenow_hourly_backlog.csv``;
2. the top 10 assignment groups by mean open count in the steady-state window;
3. for the total (queue ``all``) and for the group with the sharpest March surge, when
   the demo rule ``avg over 2h > LIMIT for 1h`` (evaluated every 15 min) fires and resolves.

An incident is open at instant ``t`` if ``opened_at < t`` and it has no ``resolved_at``
or ``resolved_at >= t`` (the convention of ``servicenow_hourly_backlog.csv``, whose row
``h`` holds the count at ``h + 1 h``).

Usage: ``python scripts/analyse_servicenow_demo_alert.py [--fixture PATH] [--reference PATH]``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURE = REPO_ROOT / "monitor" / "demo" / "data" / "servicenow_incidents.csv.gz"
DEFAULT_REFERENCE = REPO_ROOT / "tests" / "data" / "servicenow_hourly_backlog.csv"

STEADY_FIRST, STEADY_LAST = pd.Timestamp("2016-03-14 00:00"), pd.Timestamp("2016-05-31 23:00")
SURGE_FIRST, SURGE_LAST = pd.Timestamp("2016-03-14"), pd.Timestamp("2016-04-01")
DEMO_START = pd.Timestamp("2016-03-20 00:00")
EVAL_STEP = pd.Timedelta("15min")
WINDOW_SAMPLES = 8  # 2 h of 15-min samples
FOR = pd.Timedelta("1h")
HORIZON = pd.Timedelta("110h")
LOOKBACK = pd.Timedelta("7D")
MIN_MEAN_FOR_SURGE = 20  # ignore tiny groups when looking for the sharpest surge


def open_counts(tickets: pd.DataFrame, instants: pd.DatetimeIndex) -> pd.DataFrame:
    """Open count per queue (plus ``all``) at each instant."""
    t = instants.to_numpy()

    def count(df: pd.DataFrame) -> np.ndarray:
        opened = np.sort(df["opened_at"].to_numpy())
        resolved = np.sort(df["resolved_at"].dropna().to_numpy())
        return np.searchsorted(opened, t, "left") - np.searchsorted(resolved, t, "left")

    counts = {queue: count(group) for queue, group in tickets.groupby("queue")}
    counts["all"] = count(tickets)
    return pd.DataFrame(counts, index=instants)


def limit_for(avg2h: pd.Series, start: pd.Timestamp) -> int:
    """Smallest multiple of 10 above the highest 2 h average in the 7 days before start."""
    return 10 * (math.floor(float(avg2h[start - LOOKBACK : start].max()) / 10) + 1)


def simulate(avg2h: pd.Series, limit: float, start: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """First exceed, fire (after ``FOR``) and resolve times within ``HORIZON`` of start."""
    above = avg2h[start : start + HORIZON] > limit
    events: dict[str, pd.Timestamp] = {}
    pending: pd.Timestamp | None = None
    for t, is_above in zip(pd.DatetimeIndex(above.index), above.to_numpy(), strict=True):
        if "fire" in events:
            if not is_above:
                events["resolve"] = t
                break
        elif not is_above:
            pending = None
        else:
            events.setdefault("exceed", t)
            pending = t if pending is None else pending
            if t - pending >= FOR:
                events["fire"] = t
    return events


def fmt(t: pd.Timestamp | None, start: pd.Timestamp) -> str:
    if t is None:
        return "-"
    return f"{t:%Y-%m-%d %H:%M} (+{(t - start) / pd.Timedelta('1h'):.2f} h)"


def report(tickets: pd.DataFrame, reference: pd.DataFrame) -> str:
    lines: list[str] = []
    ref = reference.set_index("timestamp")["open"]
    hourly = open_counts(tickets, pd.DatetimeIndex(ref.index) + FOR)["all"].set_axis(ref.index)
    diff = (hourly - ref).abs()
    peak_row = pd.DatetimeIndex(ref.index)[int(ref.to_numpy().argmax())]
    lines += [
        "## Fixture against servicenow_hourly_backlog.csv",
        "",
        f"- incidents: {len(tickets):,}",
        f"- max |open difference|, {STEADY_FIRST:%Y-%m-%d}..{STEADY_LAST:%Y-%m-%d}: "
        f"{diff[STEADY_FIRST:STEADY_LAST].max()}",
        f"- max |open difference|, all {len(ref):,} hours: {diff.max()}",
        f"- total peak: {ref.max():,} at row {peak_row} (instant {peak_row + FOR})",
        "",
    ]

    steady = open_counts(tickets, pd.date_range(STEADY_FIRST, STEADY_LAST, freq="h") + FOR)
    means = steady.drop(columns="all").mean().sort_values(ascending=False)
    lines += ["## Top 10 assignment groups by mean open count, 2016-03-14..2016-05-31", ""]
    lines += [
        "| rank | queue | mean open | median | max | share of total |",
        "|---|---|---|---|---|---|",
    ]
    for rank, (queue, mean) in enumerate(means.head(10).items(), start=1):
        s = steady[queue]
        share = mean / steady["all"].mean()
        lines.append(
            f"| {rank} | {queue} | {mean:.1f} | {s.median():.0f} | {s.max()} | {share:.1%} |"
        )

    grid = pd.date_range("2016-02-29", "2016-06-01", freq=EVAL_STEP)
    avg2h = open_counts(tickets, grid).rolling(WINDOW_SAMPLES).mean()
    big = means[means >= MIN_MEAN_FOR_SURGE].index
    sharpness = avg2h.loc[SURGE_FIRST:SURGE_LAST, big].max() / steady[big].median()
    sharpest = str(sharpness.idxmax())
    lines += [
        "",
        f"Sharpest March surge (peak 2 h average 14-31 March / steady-state median, groups "
        f"with mean >= {MIN_MEAN_FOR_SURGE}): {sharpest} ({sharpness.max():.2f}x); "
        f"next: {', '.join(f'{q} {v:.2f}x' for q, v in sharpness.nlargest(4)[1:].items())}",
        "",
        "## Demo alert: avg over 2h > LIMIT for 1h, evaluated every 15 min",
        "",
        "| queue | start | LIMIT | avg at start | first exceed | fires | resolves | max avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for queue in ("all", sharpest):
        for start in pd.date_range("2016-03-18", "2016-03-21", freq="D"):
            limit = limit_for(avg2h[queue], start)
            ev = simulate(avg2h[queue], limit, start)
            peak = avg2h[queue][start : start + HORIZON].max()
            lines.append(
                f"| {queue} | {start:%Y-%m-%d %H:%M} | {limit} | {avg2h[queue][start]:.1f} | "
                f"{fmt(ev.get('exceed'), start)} | {fmt(ev.get('fire'), start)} | "
                f"{fmt(ev.get('resolve'), start)} | {peak:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    args = parser.parse_args(argv)
    tickets = pd.read_csv(args.fixture, parse_dates=["opened_at", "resolved_at"])
    reference = pd.read_csv(args.reference, parse_dates=["timestamp"])
    print(report(tickets, reference))


if __name__ == "__main__":
    main()
