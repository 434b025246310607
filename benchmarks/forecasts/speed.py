"""The forecast job's cost at 1,000 queues, and cheap ETS estimation against a full refit.

Run ``python -m benchmarks.forecasts.speed`` from the project root (data from
``tests/data``). Two parts:

* **The shipping job path.** A SQLite store holds three weeks of hourly rollups for
  ``--queues`` queues: seeded random windows of the real ServiceNow series (the 23
  protocol queues; ``--distinct`` windows, which the queues take in turn). Each
  queue's engine state is prepared as a running daemon would have it (warmed up over
  its history, in a process pool) and saved in the store.
  Then a fresh :class:`monitor.forecasting.ForecastJob` runs ``--ticks`` hourly ticks
  on the store (new rollups are added before each, as the collectors would): the
  first tick after the (re)start loads every state, and every tick reads rollups,
  advances each queue by one hour (estimations included, on their phased schedule),
  answers a forecast rule's breach question and stores the forecast; states are
  saved on their own schedule. CPU time (``time.process_time``) per tick is what the
  goal counts (<= 5 s at 1,000 queues, amortised).
  ``--ets-estimation joint`` runs the job (and prepares its states) with that option.
* **Accuracy of the cheap estimations.** On ``--windows`` real windows, MASE at
  1/6/24 h of ETS estimated as the engine does it, ``--stale`` hours before the
  forecast (by default at the ages the engine's schedule uses estimates: drawn per
  window from 0 to ``--every`` - 1 hours), state updated since: ``heuristic``
  (heuristic initial states, four parameters) and ``joint`` (initial states estimated
  with the parameters; a cold estimate ``--chain`` estimations earlier, then one every
  ``--every`` hours, each warm-started from the one before, as the engine's schedule
  does), each against a full statsmodels refit at the forecast hour (26 initial
  states estimated, brute grid), with paired bootstrap 95 % intervals of the ratio,
  and the CPU time per estimation.

The machine is shared: read ratios, and note the load average printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from alerting.rules import ForecastRule
from benchmarks.forecasts.series import build_frame, to_series
from config.settings import ForecastingSettings
from forecasts.codec import decode, encode
from forecasts.engine import (
    ETS_REFIT_HOURS,
    EngineSettings,
    EngineState,
    catch_up,
    mase_scale,
    phase_of,
    refit_hours,
)
from forecasts.fitwarnings import counted_warnings
from forecasts.models.ets import EtsDailyModel, EtsEstimation, FittedEts, _fit_statsmodels
from forecasts.types import FloatArray, HourlySeries
from monitor.forecasting import ForecastJob, engine_settings, queue_name
from monitor.store import forecasting as forecast_store
from monitor.store.engine import migrate, open_store
from monitor.store.schema import rollups

RESULTS = Path(__file__).resolve().parents[1] / "results"
HISTORY = 21 * 24
SOURCE = "bench"


def windows(n: int, length: int, seed: int = 0) -> list[HourlySeries]:
    """``n`` seeded windows of ``length`` hours of the real group series."""
    series = list(to_series(build_frame()).values())
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = series[int(rng.integers(len(series)))]
        start = int(rng.integers(0, len(s) - length + 1))
        out.append(s.window(start, start + length))
    return out


def rows_of(queue: str, series: HourlySeries, t0: datetime) -> list[dict[str, Any]]:
    """Rollup rows of one queue, hour i at ``t0 + i h``."""
    return [
        {
            "source": SOURCE,
            "queue": queue,
            "hour": t0 + timedelta(hours=i),
            "samples": 1,
            "open_avg": float(v),
            "open_min": int(v),
            "open_max": int(v),
            "open_last": int(v),
            "created": int(c),
            "resolved": int(r),
            "oldest_age_max_s": None,
        }
        for i, (v, c, r) in enumerate(
            zip(series.open, series.created, series.resolved, strict=True)
        )
    ]


def relabel(series: HourlySeries, t0: datetime) -> HourlySeries:
    """The same values with hour labels from ``t0`` (every queue on one clock)."""
    start = np.datetime64(t0.replace(tzinfo=None), "h")
    stamps = start + np.arange(len(series)).astype("timedelta64[h]")
    return HourlySeries(stamps, series.open, series.created, series.resolved)


def warm(args: tuple[str, HourlySeries, EtsEstimation]) -> EngineState:
    """A queue's state as a daemon running since its history began would hold it."""
    queue, series, estimation = args
    settings = engine_settings(ForecastingSettings(ets_estimation=estimation))
    start = max(0, len(series) - settings.warmup)
    with counted_warnings():
        return catch_up(None, series, settings, phase_of(queue_name((SOURCE, queue))), start)


def on_own_schedule(state: EngineState, queue: str, settings: EngineSettings) -> EngineState:
    """``state`` (warmed up under another queue's phase) as ``queue``'s own schedule
    leaves it: each estimated model last estimated at ``queue``'s latest phase hour,
    so the timed ticks hold the steady share of estimations from the first one."""
    phase = phase_of(queue_name((SOURCE, queue)))
    for name in state.attempted:
        every = refit_hours(name, settings)
        if every is not None and state.fitted[name] is not None:
            state.attempted[name] = state.last_hour - (state.last_hour + phase) % every
    return state


def job_ticks(
    queues: int,
    ticks: int,
    workers: int,
    distinct: int,
    settings: ForecastingSettings | None = None,
) -> dict[str, Any]:
    """Prepare the store and states, then time the job's hourly ticks.

    ``distinct`` real windows are warmed up (the slow part of the preparation) and the
    ``queues`` queues take them in turn: each queue still estimates on its own phase.
    ``settings``: the job's forecasting settings (the defaults when None).
    """
    settings = settings or ForecastingSettings()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    base = [relabel(w, t0) for w in windows(distinct, HISTORY + ticks)]
    data = [base[i % distinct] for i in range(queues)]
    names = [f"q{i:04d}" for i in range(queues)]
    tmp = Path(tempfile.mkdtemp())
    engine = open_store(f"sqlite:///{tmp}/bench.db")
    migrate(engine)
    with engine.begin() as conn:
        for name, s in zip(names, data, strict=True):
            conn.execute(rollups.insert(), rows_of(name, s.head(HISTORY), t0))
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [
            (n, s.head(HISTORY), settings.ets_estimation)
            for n, s in zip(names[:distinct], base, strict=True)
        ]
        warmed = list(pool.map(warm, jobs))
    engine_cfg = engine_settings(settings)
    states = [
        on_own_schedule(decode(encode(warmed[i % distinct])), names[i], engine_cfg)
        for i in range(queues)
    ]
    prepare_s = time.perf_counter() - started
    fingerprint = engine_cfg.fingerprint()
    with engine.begin() as conn:
        for name, state in zip(names, states, strict=True):
            forecast_store.save_state(conn, (SOURCE, name), state, fingerprint)
    rule = ForecastRule.model_validate(
        {"name": "R", "kind": "forecast", "threshold": 60, "min_probability": 0.5}
    )
    job = ForecastJob(settings)
    cpu, wall, estimations = [], [], []
    for k in range(ticks):
        hour = HISTORY + k
        with engine.begin() as conn:  # the collectors' new hour, before the tick
            for name, s in zip(names, data, strict=True):
                conn.execute(
                    rollups.insert(),
                    rows_of(name, s.window(hour, hour + 1), t0 + timedelta(hours=hour)),
                )
        now = t0 + timedelta(hours=hour + 1, minutes=2)
        before = {k: st.attempted.get("ets_daily") for k, st in job._states.items()}
        c0, w0 = time.process_time(), time.perf_counter()
        made = job.run(engine, [rule], now)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        estimations.append(
            sum(before.get(k, -1) != st.attempted.get("ets_daily") for k, st in job._states.items())
        )
        assert made == queues, made
    size = sum(len(encode(s)) for s in states[:20]) / 20
    engine.dispose()
    return {
        "queues": queues,
        "ets_estimation": settings.ets_estimation,
        "ticks": ticks,
        "prepare_states_s_wall": prepare_s,
        "first_tick_after_restart_cpu_s": cpu[0],
        "tick_cpu_s": cpu,
        "tick_wall_s": wall,
        "tick_ets_estimations": estimations,
        "steady_tick_cpu_s_mean": float(np.mean(cpu[1:])) if ticks > 1 else None,
        "steady_tick_cpu_s_max": float(np.max(cpu[1:])) if ticks > 1 else None,
        "state_bytes_per_queue": size,
    }


def ets_accuracy(
    n: int, stale: int | None, seed: int = 1, every: int = 168, chain: int = 1
) -> dict[str, Any]:
    """MASE at 1/6/24 h of the engine's ETS estimations against a full refit at the
    forecast hour, on ``n`` real windows.

    The estimation used was made ``stale`` hours before the forecast (None: drawn per
    window uniformly from ``0 .. every - 1``, the ages the daemon's schedule uses them
    at) and its state updated since by the engine's recursion. The joint one follows
    the schedule before that: a cold estimate ``chain`` estimations earlier, then one
    every ``every`` hours, each warm-started from the one before, as the engine does.
    """
    train = 336
    errors: dict[str, list[FloatArray]] = {"heuristic": [], "joint": [], "full_refit": []}
    cpu = dict.fromkeys(errors, 0.0)
    ages: list[int] = []
    models = {e: EtsDailyModel(estimation=e) for e in ("heuristic", "joint")}
    oldest = every - 1 if stale is None else stale
    rng = np.random.default_rng(seed + 1)
    for w in windows(n, every * chain + oldest + train + 24, seed):
        origin = len(w) - 24
        age = int(rng.integers(every)) if stale is None else stale
        ages.append(age)
        made = origin - age
        actual = w.open[origin:]
        scale = mase_scale(w.open[origin - train : origin])
        with counted_warnings():
            previous = None
            for k in range(chain, 0, -1):  # the schedule's earlier estimations
                end = made - k * every
                previous = models["joint"].refit(w.window(end - train, end), previous)
            for name, model in models.items():
                c0 = time.process_time()
                fitted = model.refit(w.window(made - train, made), previous)
                cpu[name] += time.process_time() - c0
                assert isinstance(fitted, FittedEts)
                point = fitted.update(w.window(made, origin)).forecast(24)
                errors[name].append(np.abs(actual - point)[[0, 5, 23]] / scale)
            c0 = time.process_time()
            res = _fit_statsmodels(w.open[origin - train : origin], 24, full=True)
            cpu["full_refit"] += time.process_time() - c0
        full = np.asarray(res.forecast(24), dtype=np.float64)
        errors["full_refit"].append(np.abs(actual - full)[[0, 5, 23]] / scale)
    arrays = {k: np.asarray(v) for k, v in errors.items()}
    refit = arrays["full_refit"]
    return {
        "windows": n,
        "stale_hours": stale,
        "every_hours": every,
        "chain": chain,
        "mean_age_hours": float(np.mean(ages)),
        "mase": {k: v.mean(axis=0).tolist() for k, v in arrays.items()},
        "cpu_ms_per_estimation": {k: 1000 * v / n for k, v in cpu.items()},
        "ratio_minus_1_95ci": {k: ratio_interval(arrays[k], refit) for k in ("heuristic", "joint")},
    }


def ratio_interval(cheap: FloatArray, refit: FloatArray, draws: int = 2000) -> list[list[float]]:
    """Paired bootstrap 95% interval of mean(cheap)/mean(refit) - 1 per horizon."""
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(cheap), (draws, len(cheap)))
    ratios = cheap[picks].mean(axis=1) / refit[picks].mean(axis=1) - 1
    lo, hi = np.percentile(ratios, [2.5, 97.5], axis=0)
    return [[float(a), float(b)] for a, b in zip(lo, hi, strict=True)]


def print_job(job: dict[str, Any], args: argparse.Namespace) -> None:
    """The job's figures."""
    print(f"{args.queues} queues, {HISTORY} h of rollups each (SQLite), {args.ticks} hourly ticks")
    print(
        f"states prepared (warm-up replay, {args.workers} processes): "
        f"{job['prepare_states_s_wall']:.0f} s wall"
    )
    print(
        "first tick after a restart (loads every state): "
        f"{job['first_tick_after_restart_cpu_s']:.2f} s CPU"
    )
    if job["steady_tick_cpu_s_mean"] is not None:
        print(
            f"later ticks: mean {job['steady_tick_cpu_s_mean']:.2f} s CPU, "
            f"max {job['steady_tick_cpu_s_max']:.2f} s (goal <= 5 s at 1,000 queues)"
        )
    counts = job["tick_ets_estimations"]
    print(f"ETS estimations per tick: {counts[0]} at the first, {min(counts)}-{max(counts)}")
    print(f"saved state: {job['state_bytes_per_queue'] / 1024:.0f} KiB per queue")


def print_accuracy(acc: dict[str, Any]) -> None:
    """The estimations' accuracy against a full refit."""
    full = acc["mase"]["full_refit"]
    age = (
        f"{acc['stale_hours']} h"
        if acc["stale_hours"] is not None
        else f"0-{acc['every_hours'] - 1} h (mean {acc['mean_age_hours']:.1f} h)"
    )
    print(
        f"ETS on {acc['windows']} real windows, estimated {age} before the forecast "
        f"(joint: every {acc['every_hours']} h, {acc['chain']} warm starts before), "
        f"vs a full refit at the forecast hour (MASE {full[0]:.3f} / "
        f"{full[1]:.3f} / {full[2]:.3f} at 1 / 6 / 24 h, "
        f"{acc['cpu_ms_per_estimation']['full_refit']:.0f} ms CPU each):"
    )
    for name in ("heuristic", "joint"):
        cells = []
        for i, h in enumerate((1, 6, 24)):
            lo, hi = acc["ratio_minus_1_95ci"][name][i]
            ratio = acc["mase"][name][i] / full[i] - 1
            cells.append(f"{h} h {100 * ratio:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]")
        ms = acc["cpu_ms_per_estimation"][name]
        print(f"  {name:9s} ({ms:.0f} ms CPU): " + "; ".join(cells))


def main(argv: list[str] | None = None) -> None:
    """Time the job and compare the estimations; print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=25)
    parser.add_argument(
        "--distinct", type=int, default=200, help="real windows warmed up (queues reuse them)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--windows", type=int, default=400)
    parser.add_argument(
        "--stale",
        type=lambda text: None if text == "schedule" else int(text),
        default=None,
        metavar="HOURS|schedule",
        help="age of the estimation used at the forecast hour (default: schedule, drawn"
        " per window from 0 .. --every - 1)",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=ETS_REFIT_HOURS["joint"],
        help="hours between the joint estimations (default: the engine's schedule for joint)",
    )
    parser.add_argument(
        "--chain", type=int, default=3, help="warm-started estimations before the one used"
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--ets-estimation", choices=["heuristic", "joint"], default="heuristic", help="job part"
    )
    parser.add_argument("--skip-job", action="store_true")
    parser.add_argument(
        "--calibration-prior",
        type=float,
        default=ForecastingSettings().calibration_prior,
        help="forecasts.calibration_prior of the timed job (default: the config's default)",
    )
    parser.add_argument("--out", default="forecasts_speed.json", help="file in benchmarks/results")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    if not args.skip_job:
        report["job"] = job_ticks(
            args.queues,
            args.ticks,
            args.workers,
            min(args.distinct, args.queues),
            ForecastingSettings(
                calibration_prior=args.calibration_prior, ets_estimation=args.ets_estimation
            ),
        )
        report["job"]["calibration_prior"] = args.calibration_prior
        print_job(report["job"], args)
        print(f"ETS estimation in the job: {args.ets_estimation}")
    if not args.skip_accuracy:
        acc = ets_accuracy(args.windows, args.stale, every=args.every, chain=args.chain)
        report["ets_accuracy"] = acc
        print_accuracy(acc)
    report["load_average"] = os.getloadavg()
    print(f"load average at the end: {report['load_average']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
