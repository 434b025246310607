"""Replaying the engine over whole histories: what the daemon would have said, every hour.

:func:`replay_queue` steps one queue's :class:`~forecasts.engine.EngineState` through
every hour of its history with :func:`~forecasts.engine.catch_up` (the call the
forecast job makes once per hour) and records, per hour, every model's forecast, the
selected model and its band, and the breach probabilities asked for. The backtest
report and the benchmarks score these records; ``monitor/backtest.py`` turns them
into alert timelines through the real rule evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np

from forecasts.engine import BASE, COMBOS, EngineSettings, catch_up, current_forecast, phase_of
from forecasts.outputs import band_crosses, breach_chance, forecast
from forecasts.types import FloatArray, Forecast, HourlySeries

MODELS = (*BASE, *COMBOS)
"""Every model whose forecasts a replay records."""


@dataclass(frozen=True)
class Question:
    """A breach probability to record every hour.

    Attributes:
        name: how the replay's ``probabilities`` name it.
        limit: the limit in force at each hour of the series.
        steps: hours ahead.
        model: the model asked (None: the engine's warning model, as the daemon does).
        band: record instead whether the model's upper band (at the settings' level)
            crosses the limit within ``steps`` (1.0) or not (0.0): Datadog's semantics.
        settings: the settings the probability is answered with (None: the replay's);
            they may differ only in what the answer reads (``burst_jump``,
            ``burst_widen``, ``warning_model``, ``calibration_prior``), not in how
            the state evolves.
    """

    name: str
    limit: FloatArray
    steps: int
    model: str | None = None
    band: bool = False
    settings: EngineSettings | None = None


@dataclass(frozen=True)
class Replay:
    """One queue's engine, hour by hour (row t: the state after absorbing hour t).

    Attributes:
        queue: the queue's name.
        matrices: per model, its forecast for steps 1..horizon made at each hour.
        forecasts: per hour, the forecast the daemon shows (selected model, band).
        probabilities: per question, the breach probability at each hour.
        breach_models: per question, the model behind each hour's probability.
        warnings: statsmodels warnings counted while estimating.
    """

    queue: str
    matrices: dict[str, FloatArray]
    forecasts: list[Forecast]
    probabilities: dict[str, FloatArray]
    breach_models: dict[str, list[str]]
    warnings: dict[str, int]

    @property
    def selected(self) -> list[str]:
        """The model shown at each hour."""
        return [f.model for f in self.forecasts]

    def band(self, step: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Point, lower and upper edge at ``step`` (1-based) of each hour's forecast."""
        rows = [(f.point[step - 1], f.lower[step - 1], f.upper[step - 1]) for f in self.forecasts]
        point, lower, upper = np.asarray(rows, dtype=np.float64).T
        return point, lower, upper


def replay_queue(
    queue: str,
    series: HourlySeries,
    settings: EngineSettings,
    questions: Sequence[Question] = (),
) -> Replay:
    """Step the engine through every hour of ``series`` and record what it says.

    Args:
        queue: the queue's name (it sets the engine's estimation phase).
        series: the queue's whole history.
        settings: the engine settings (the daemon's).
        questions: breach probabilities to record.
    """
    n, h = len(series), settings.horizon
    for q in questions:
        if q.settings is not None and not answers_only(q.settings, settings):
            raise ValueError(f"question {q.name}: its settings change the engine's state")
    matrices = {m: np.full((n, h), np.nan) for m in MODELS}
    probabilities = {q.name: np.zeros(n) for q in questions}
    breach_models: dict[str, list[str]] = {q.name: [] for q in questions}
    shown = []
    state = None
    phase = phase_of(queue)
    for t in range(n):
        state = catch_up(state, series.head(t + 1), settings, phase)
        for m in MODELS:
            matrices[m][t] = current_forecast(state, m)
        shown.append(forecast(state, settings, queue))
        for q in questions:
            limit = float(q.limit[t])
            if q.band:
                p, model = band_crosses(state, settings, limit, q.steps, q.model or "naive")
            else:
                p, model = breach_chance(state, q.settings or settings, limit, q.steps, q.model)
            probabilities[q.name][t] = p
            breach_models[q.name].append(model)
    tally = dict(state.warnings.counts) if state is not None else {}
    return Replay(queue, matrices, shown, probabilities, breach_models, tally)


def answers_only(asked: EngineSettings, settings: EngineSettings) -> bool:
    """Whether ``asked`` differs from ``settings`` only in how breach questions are answered."""
    return (
        replace(
            asked,
            burst_jump=settings.burst_jump,
            burst_widen=settings.burst_widen,
            warning_model=settings.warning_model,
            calibration_prior=settings.calibration_prior,
        )
        == settings
    )


def replay_all(
    series: Mapping[str, HourlySeries],
    settings: EngineSettings,
    questions: Callable[[str, HourlySeries], Sequence[Question]] | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Replay]:
    """Replays of every queue, ``workers`` processes at a time; ``progress(done, total)``."""
    asked = {q: questions(q, s) if questions else () for q, s in series.items()}
    if workers <= 1:
        return {q: replay_queue(q, s, settings, asked[q]) for q, s in series.items()}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(replay_queue, q, s, settings, asked[q]): q for q, s in series.items()
        }
        done: dict[str, Replay] = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if progress is not None:
                progress(len(done), len(futures))
        return {q: done[q] for q in series}
