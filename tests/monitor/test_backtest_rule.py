"""The protocol backtest scores the forecast rule it is given, through the real rule path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks.forecasts.crossval import (
    Params,
    fast_alerting,
    gate_hours,
    own_gate_hours,
    own_rises,
)
from forecasts.evaluation.replay import Replay
from forecasts.evaluation.report import limit_series
from forecasts.types import RISE_QUANTILES, Forecast, HourlySeries
from monitor.backtest import RULE, early_warning, key_of, read_csv, timeline

CSV = Path(__file__).parents[1] / "fixtures" / "rules" / "servicenow_hourly_2016-03_05.csv"


def replay_with(series: HourlySeries, chance: np.ndarray) -> Replay:
    """A replay whose rule question answers ``chance`` every hour (the engine is not run:
    this checks what is done with the answers)."""
    n = len(series)
    flat = np.zeros(6)
    forecasts = [
        Forecast(
            "all", series.timestamps[t], 6, "naive", flat, flat, flat, 0.8, None, None, None, "ok"
        )
        for t in range(n)
    ]
    asked = {"rule/fixed": chance, "band/fixed": np.zeros(n)}
    return Replay("all", {}, forecasts, asked, {q: ["warning"] * n for q in asked}, {})


def test_the_given_rule_is_scored_with_its_own_thresholds() -> None:
    """0.8 / 0.4 alerts where the hysteresis at 0.8 / 0.4 says, not where 0.3 / 0.15 does."""
    series = read_csv(CSV)["all"]
    # a probability that follows the real backlog: near 1 at its highs, near 0 at its lows
    span = series.open.max() - series.open.min()
    chance = (series.open - series.open.min()) / span
    replays = {"all": replay_with(series, chance)}
    known = np.ones(len(series), dtype=bool)
    candidate = {**RULE, "min_probability": 0.8, "recover_probability": 0.4}
    scores, alerting = early_warning({"all": series}, replays, "fixed", candidate)
    expected = fast_alerting(chance, known, Params("warning", 0.8, 0.4, 0))
    assert expected.any() and np.array_equal(alerting["all"], expected)
    assert any("P(cross in 6h) >= 0.8, recover < 0.4" in name for name in scores)
    shipped_scores, shipped = early_warning({"all": series}, replays, "fixed")
    assert np.array_equal(
        shipped["all"], fast_alerting(chance, known, Params("warning", 0.3, 0.15, 0))
    )
    assert not np.array_equal(shipped["all"], alerting["all"])
    assert any("P(cross in 6h) >= 0.3, recover < 0.15" in name for name in shipped_scores)


def carrying(series: HourlySeries, rises: npt.NDArray[np.float64] | None = None) -> list[Forecast]:
    """A flat naive forecast per hour of ``series`` carrying its last 7 observed hours
    and, with ``rises`` (one row per hour, NaN: none known), the hour's own rises."""
    flat = np.zeros(6)
    out = []
    for t in range(len(series)):
        own = () if rises is None or np.isnan(rises[t]).any() else tuple(map(float, rises[t]))
        observed = tuple(float(v) for v in series.open[max(0, t - 6) : t + 1])
        out.append(
            Forecast(
                "all",
                series.timestamps[t],
                6,
                "naive",
                flat,
                flat,
                flat,
                0.8,
                None,
                None,
                None,
                "ok",
                observed,
                own,
            )
        )
    return out


def test_the_two_stage_rule_reads_the_hours_its_forecasts_carry() -> None:
    """The gated rule through the real path (each hour's stored row, the alerting engine)
    fires where the grid's gate says: at 0.1 while the open count is near the limit and
    rising, at 0.5 otherwise; and the gate changes the timeline."""
    series = read_csv(CSV)["all"]
    span = series.open.max() - series.open.min()
    chance = 0.6 * (series.open - series.open.min()) / span
    n = len(series)
    rep = Replay("all", {}, carrying(series), {"q": chance}, {"q": ["warning"] * n}, {})
    limits = limit_series(series, "fixed")
    known = np.ones(n, dtype=bool)
    gated = Params("warning", 0.5, 0.25, 0, gate=0.1, gate_level=0.8, gate_rise=3)
    real, _ = timeline(gated.rule(float(limits[0])), key_of("all"), rep, "q", limits)
    gate = gate_hours(series.open, limits, 0.8, 3)
    assert gate.any() and np.array_equal(real, fast_alerting(chance, known, gated, gate))
    plain = fast_alerting(chance, known, Params("warning", 0.5, 0.25, 0))
    assert not np.array_equal(real, plain)


def test_the_own_history_gate_reads_the_rises_its_forecasts_carry() -> None:
    """The gate from the queue's own history through the real path (each hour's stored
    row, the alerting engine) fires where the grid's gate says: at 0.1 while the open
    count is within the queue's own 90th-percentile 6-hour rise of the limit and rising
    over 3 h, at 0.5 otherwise; and it differs from the fixed-share gate."""
    series = read_csv(CSV)["all"]
    span = series.open.max() - series.open.min()
    chance = 0.45 * (series.open - series.open.min()) / span
    n = len(series)
    diffs = pd.Series(series.open).diff(6).rolling(168, min_periods=1)
    rises = np.column_stack([diffs.quantile(q).clip(lower=0.0) for q in RISE_QUANTILES])
    rep = Replay("all", {}, carrying(series, rises), {"q": chance}, {"q": ["warning"] * n}, {})
    limits = limit_series(series, "fixed")
    known = np.ones(n, dtype=bool)
    own = Params("warning", 0.5, 0.25, 0, gate=0.1, gate_rise=3, gate_quantile=0.9)
    real, _ = timeline(own.rule(float(limits[0])), key_of("all"), rep, "q", limits)
    gate = own_gate_hours(series.open, limits, own_rises(rep), 0.9, 3)
    assert gate.any() and np.array_equal(real, fast_alerting(chance, known, own, gate))
    assert not np.array_equal(real, fast_alerting(chance, known, Params("warning", 0.5, 0.25, 0)))
    fixed = gate_hours(series.open, limits, 0.9, 3)
    assert not np.array_equal(gate, fixed)
