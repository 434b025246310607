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
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from forecasts.calibrate import BINS, memory_chance
from forecasts.engine import (
    BASE,
    COMBOS,
    EngineSettings,
    catch_up,
    current_forecast,
    hour_number,
    phase_of,
)
from forecasts.outputs import band_crosses, breach_chance, forecast, memory_inputs
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
            ``burst_widen``, ``warning_model``, ``calibration_prior``,
            ``calibration_half_life``), not in how the state evolves.
        track: with a calibration memory, one memory for the question however its
            limit moves (a rolling limit), pooled with the same track of other queues
            (:func:`forecasts.calibrate.memory_key`); None: a memory per limit.
    """

    name: str
    limit: FloatArray
    steps: int
    model: str | None = None
    band: bool = False
    settings: EngineSettings | None = None
    track: str | None = None


@dataclass(frozen=True)
class MemoryTrace:
    """A calibrated question's inputs, hour by hour, before the pool is known.

    Attributes:
        group: the memory's group (what the pool sums over queues).
        prior: the calibration prior it is answered with.
        raw: the uncalibrated probability at each hour.
        known: whether it is calibrated (its model had its error paths).
        counts: the queue's own counts at each hour, shape (hours, 3, BINS).
    """

    group: str
    prior: float
    raw: FloatArray
    known: npt.NDArray[np.bool_]
    counts: FloatArray


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
        memories: per question answered with a calibration memory, its inputs; its
            ``probabilities`` are final once :func:`pool_memories` has run.
    """

    queue: str
    matrices: dict[str, FloatArray]
    forecasts: list[Forecast]
    probabilities: dict[str, FloatArray]
    breach_models: dict[str, list[str]]
    warnings: dict[str, int]
    memories: dict[str, MemoryTrace] = field(default_factory=dict)

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
    traces = {
        q.name: MemoryTrace(
            "",
            float((q.settings or settings).calibration_prior or 0.0),
            probabilities[q.name],
            np.zeros(n, dtype=bool),
            np.zeros((n, 3, BINS)),
        )
        for q in questions
        if not q.band and remembers(q.settings or settings)
    }
    for t in range(n):
        state = catch_up(state, series.head(t + 1), settings, phase)
        for m in MODELS:
            matrices[m][t] = current_forecast(state, m)
        shown.append(forecast(state, settings, queue))
        for q in questions:
            limit = float(q.limit[t])
            asked = q.settings or settings
            if q.band:
                p, model = band_crosses(state, settings, limit, q.steps, q.model or "naive")
            elif q.name in traces:
                p, model, counts, group = memory_inputs(
                    state, asked, limit, q.steps, q.model, q.track
                )
                traces[q.name] = replace(traces[q.name], group=group)
                if counts is not None:
                    traces[q.name].known[t] = True
                    traces[q.name].counts[t] = counts
            else:
                p, model = breach_chance(state, asked, limit, q.steps, q.model)
            probabilities[q.name][t] = p
            breach_models[q.name].append(model)
    tally = dict(state.warnings.counts) if state is not None else {}
    # the raw probabilities, kept apart from those pool_memories rewrites
    memories = {name: replace(trace, raw=trace.raw.copy()) for name, trace in traces.items()}
    return Replay(queue, matrices, shown, probabilities, breach_models, tally, memories)


def remembers(settings: EngineSettings) -> bool:
    """Whether breach probabilities are calibrated with a memory (and need the pool)."""
    return settings.calibration_prior is not None and settings.calibration_half_life is not None


def pool_memories(replays: Mapping[str, Replay]) -> None:
    """Each calibrated question's probabilities, shrunk towards the pool, in place.

    The pool at an hour is, per group, the counts summed over every replayed queue at
    that hour (in the order of the queues' names), as the forecast job sums them over
    the queues it advanced: the replays of one daemon's queues give its probabilities.
    """
    hours = {name: _hours(rep) for name, rep in replays.items() if rep.memories}
    if not hours:
        return
    first = min(int(h[0]) for h in hours.values() if len(h))
    last = max(int(h[-1]) for h in hours.values() if len(h))
    pools: dict[str, FloatArray] = {}
    for name in sorted(hours):
        at = hours[name] - first
        for trace in replays[name].memories.values():
            pool = pools.setdefault(trace.group, np.zeros((last - first + 1, 3, BINS)))
            pool[at] = pool[at] + trace.counts
    for name in hours:
        rep, at = replays[name], hours[name] - first
        for question, trace in rep.memories.items():
            out = rep.probabilities[question]
            pool = pools[trace.group]
            for t in np.flatnonzero(trace.known):
                out[t] = memory_chance(
                    float(trace.raw[t]), trace.counts[t], pool[at[t]], trace.prior
                )


def _hours(rep: Replay) -> npt.NDArray[np.int64]:
    return np.asarray([hour_number(f.made_at) for f in rep.forecasts], dtype=np.int64)


def answers_only(asked: EngineSettings, settings: EngineSettings) -> bool:
    """Whether ``asked`` differs from ``settings`` only in how breach questions are answered."""
    return (
        replace(
            asked,
            burst_jump=settings.burst_jump,
            burst_widen=settings.burst_widen,
            warning_model=settings.warning_model,
            calibration_prior=settings.calibration_prior,
            calibration_half_life=settings.calibration_half_life,
            carry_rises=settings.carry_rises,
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
        done = {q: replay_queue(q, s, settings, asked[q]) for q, s in series.items()}
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(replay_queue, q, s, settings, asked[q]): q for q, s in series.items()
            }
            done = {}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                if progress is not None:
                    progress(len(done), len(futures))
    out = {q: done[q] for q in series}
    pool_memories(out)
    return out
