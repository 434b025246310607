"""Refresh 1,000 queues of 336 hourly points: cheap state updates vs full refits.

Run ``python -m benchmarks.forecasts.speed`` from the project root. The queues are
windows of the real ServiceNow group series (seeded random offsets into the 23
protocol series). Each window holds ``STALE`` hours before the 336-hour history
and 24 hours after it for scoring.

* Full refit (the baseline): at the refresh hour, fit every model (naive, seasonal
  naive, flow, ETS) from scratch on the last 336 hours and forecast 24 h.
* Cheap update (the strategy): parameters were estimated ``STALE`` hours earlier
  (timed separately: at an hourly tick only 1/24 of the queues re-estimate, so
  that share is amortised); at the refresh hour each queue's state absorbs the
  ``STALE`` new hours and forecasts 24 h.
* Daemon tick: what the forecast job does per hour with the default settings: the
  full daily selection (:func:`forecasts.forecaster.reselect`: a backtest of every
  candidate, the chosen and the warning model fitted) for 1/24 of the queues, and
  for every queue :func:`~forecasts.forecaster.refresh`, the forecast and a breach
  probability.

The machine is shared, so estimation (the slow part) runs on ``--baseline-queues``
distinct windows; the 1,000 queues' updates reuse them in turn, and the full refit's
wall time is scaled from them to 1,000 queues.

Both run in a process pool over the machine's cores. The script prints wall time,
per-series milliseconds, and MASE at 1/6/24 h of both strategies on the real outcomes,
with a paired bootstrap 95% interval of the cheap/refit ratio: each window is scored
at one refresh hour, so 100 windows leave the 6 h ratio uncertain by about ±6%
(hence the default of 400).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.forecasts.series import build_frame, to_series
from forecasts.backtest import mase_scale
from forecasts.fitwarnings import counted_warnings
from forecasts.forecaster import (
    ForecastSettings,
    QueueState,
    breach_chance,
    make_forecast,
    refresh,
    reselect,
)
from forecasts.models import (
    DriftModel,
    EtsDailyModel,
    FlowModel,
    LinearModel,
    NaiveModel,
    SeasonalNaiveModel,
)
from forecasts.models.base import FittedModel, Model, advance
from forecasts.types import FloatArray, HourlySeries

HISTORY = 336
STALE = 24
AHEAD = 24
MODELS: dict[str, Model] = {
    "naive": NaiveModel(),
    "seasonal_naive": SeasonalNaiveModel(),
    "flow": FlowModel(),
    "drift": DriftModel(),
    "linear": LinearModel(),
    "ets_daily": EtsDailyModel(),
}
RESULTS = Path(__file__).resolve().parents[1] / "results"


def windows(n: int, seed: int = 0) -> list[HourlySeries]:
    """``n`` windows of STALE + HISTORY + AHEAD hours from the real group series."""
    series = list(to_series(build_frame()).values())
    rng = np.random.default_rng(seed)
    length = STALE + HISTORY + AHEAD
    out = []
    for _ in range(n):
        s = series[int(rng.integers(len(series)))]
        start = int(rng.integers(0, len(s) - length + 1))
        out.append(s.window(start, start + length))
    return out


def prepare(window: HourlySeries) -> dict[str, FittedModel]:
    """Parameters estimated STALE hours before the refresh (the rare estimation)."""
    with counted_warnings():
        return {n: m.fit(window.window(0, HISTORY)) for n, m in MODELS.items()}


def full_refit(window: HourlySeries) -> dict[str, FloatArray]:
    """Every model fitted from scratch at the refresh hour."""
    history = window.window(STALE, STALE + HISTORY)
    with counted_warnings():
        return {n: m.fit(history).forecast(AHEAD) for n, m in MODELS.items()}


def cheap(args: tuple[HourlySeries, dict[str, FittedModel]]) -> dict[str, FloatArray]:
    """Every model's state advanced over the STALE new hours, then forecast."""
    window, states = args
    history = window.window(0, STALE + HISTORY)
    out = {}
    for name, fitted in states.items():
        out[name] = advance(MODELS[name], fitted, history, STALE).forecast(AHEAD)
    return out


def scaled_errors(
    forecasts: list[dict[str, FloatArray]], queues: list[HourlySeries]
) -> dict[str, FloatArray]:
    """Per model, the scaled absolute errors at 1/6/24 h (queues x 3)."""
    out: dict[str, FloatArray] = {}
    for name in MODELS:
        errs = []
        for fc, w in zip(forecasts, queues, strict=True):
            actual = w.open[STALE + HISTORY :]
            scale = mase_scale(w.open[STALE : STALE + HISTORY])
            errs.append(np.abs(actual - fc[name])[[0, 5, 23]] / scale)
        out[name] = np.asarray(errs)
    return out


def daily_selection(window: HourlySeries) -> QueueState:
    """The forecast job's daily reselection of one queue, on the history before refresh."""
    with counted_warnings():
        return reselect(window.window(0, HISTORY), ForecastSettings())


def hourly_refresh(args: tuple[HourlySeries, QueueState]) -> float:
    """The forecast job's hourly work on one queue: refresh, forecast, breach probability."""
    window, state = args
    settings = ForecastSettings()
    state = refresh(state, window.window(0, STALE + HISTORY))
    forecast = make_forecast("q", state, settings)
    chance, _ = breach_chance(state, float(forecast.upper.max()), 6)
    return chance


def mase(
    forecasts: list[dict[str, FloatArray]], queues: list[HourlySeries]
) -> dict[str, list[float]]:
    """MASE at 1/6/24 h per model over the queues."""
    return {
        n: [float(v) for v in e.mean(axis=0)] for n, e in scaled_errors(forecasts, queues).items()
    }


def ratio_interval(cheap: FloatArray, refit: FloatArray, draws: int = 2000) -> list[list[float]]:
    """Paired bootstrap 95% interval of mean(cheap)/mean(refit) - 1 per horizon."""
    rng = np.random.default_rng(0)
    n = len(cheap)
    picks = rng.integers(0, n, (draws, n))
    ratios = cheap[picks].mean(axis=1) / refit[picks].mean(axis=1) - 1
    lo, hi = np.percentile(ratios, [2.5, 97.5], axis=0)
    return [[float(a), float(b)] for a, b in zip(lo, hi, strict=True)]


def timed(pool: ProcessPoolExecutor, fn: object, items: list[object]) -> tuple[list, float]:  # type: ignore[type-arg]
    """Map ``fn`` over ``items`` in the pool; results and wall seconds."""
    started = time.perf_counter()
    chunk = max(1, len(items) // (8 * (pool._max_workers or 1)))
    results = list(pool.map(fn, items, chunksize=chunk))  # type: ignore[arg-type]
    return results, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    """Time both strategies and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--baseline-queues",
        type=int,
        default=400,
        help="distinct real windows estimated, fully refitted and scored (scaled to --queues)",
    )
    args = parser.parse_args(argv)
    base = windows(args.baseline_queues)
    n, nb = args.queues, len(base)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        base_states, prep_s = timed(pool, prepare, base)
        # The n queues reuse the nb estimated windows in turn (the machine is shared and
        # estimation is the slow part; an update's cost does not depend on the window).
        work = [(base[i % nb], base_states[i % nb]) for i in range(n)]
        cheap_fc, cheap_s = timed(pool, cheap, work)
        refit_fc, refit_s = timed(pool, full_refit, base)
        selections, select_s = timed(pool, daily_selection, base)
        tick_work = [(base[i % nb], selections[i % nb]) for i in range(n)]
        _, refresh_s = timed(pool, hourly_refresh, tick_work)
    queues = [w for w, _ in work]
    amortised = prep_s * n / nb / 24
    refit_scaled = refit_s * n / nb
    report = {
        "queues": n,
        "workers": args.workers,
        "history_hours": HISTORY,
        "stale_hours": STALE,
        "baseline_queues": nb,
        "full_refit_s_measured": refit_s,
        "full_refit_s_scaled": refit_scaled,
        "cheap_update_s": cheap_s,
        "estimation_s_measured": prep_s,
        "amortised_reestimation_s_per_hour": amortised,
        "cheap_total_s": cheap_s + amortised,
        "selection_s_measured": select_s,
        "daemon_refresh_s": refresh_s,
        "daemon_tick_s": refresh_s + select_s * n / nb / 24,
        "selected_models": {
            m: sum(s.selection.model == m for s in selections)
            for m in ForecastSettings().candidates
        },
        "mase_full_refit": mase(refit_fc, base),
        "mase_cheap": mase(cheap_fc[:nb], base),
        "mase_cheap_all": mase(cheap_fc, queues),
    }
    refit_err, cheap_err = scaled_errors(refit_fc, base), scaled_errors(cheap_fc[:nb], base)
    intervals = {n: ratio_interval(cheap_err[n], refit_err[n]) for n in MODELS}
    report["cheap_vs_refit_95ci"] = intervals
    print(f"{n} queues x {HISTORY} h, {args.workers} workers (machine shared)")
    print(
        f"full refit of every model: {refit_s:7.1f} s wall on {nb} queues "
        f"-> {refit_scaled:7.1f} s for {n}  {1000 * refit_s / nb:7.2f} ms/series"
    )
    print(
        f"cheap update ({STALE} h of new data): {cheap_s:7.1f} s wall  "
        f"{1000 * cheap_s / n:7.2f} ms/series"
    )
    print(
        f"  estimation measured on {nb} queues: {prep_s:.1f} s; for {n} queues amortised over "
        f"24 hourly ticks: {amortised:.1f} s -> tick total {cheap_s + amortised:.1f} s"
    )
    print(
        f"daemon tick: selection measured on {nb} queues {select_s:.1f} s "
        f"({1000 * select_s / nb:.0f} ms/queue), amortised {select_s * n / nb / 24:.1f} s; "
        f"refresh+forecast+breach of {n} queues {refresh_s:.1f} s "
        f"-> tick {report['daemon_tick_s']:.1f} s (goal 45 s)"
    )
    print(f"MASE on the {nb} baseline queues:")
    print(
        f"{'model':16s} {'MASE refit 1/6/24h':>24s} {'MASE cheap 1/6/24h':>24s}"
        "  cheap vs refit at 1/6/24 h [95% interval]"
    )
    for name in MODELS:
        a, b = report["mase_full_refit"][name], report["mase_cheap"][name]  # type: ignore[index]
        diffs = "  ".join(
            f"{100 * (y / x - 1):+5.1f}% [{100 * lo:+.1f},{100 * hi:+.1f}]" if x else "  n/a"
            for x, y, (lo, hi) in zip(a, b, intervals[name], strict=True)
        )
        refit = f"{a[0]:8.3f}{a[1]:8.3f}{a[2]:8.3f}"
        print(f"{name:16s} {refit} {b[0]:8.3f}{b[1]:8.3f}{b[2]:8.3f}  {diffs}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "forecasts_speed.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
