"""What a queue's engine state gives at its last hour: the forecast, its band, breach odds.

Pure functions of an :class:`~forecasts.engine.EngineState`; the forecast job stores
them and the backtest replays them, hour by hour, through the same calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from forecasts.bands import Calibration, random_walk
from forecasts.calibrate import Counts, Memory, calibrated, memory_chance, memory_key, pooled
from forecasts.engine import (
    EngineSettings,
    EngineState,
    breach_steps,
    current_forecast,
    members_of,
    per_hour,
    raw_breach_chance,
)
from forecasts.models.base import FlowForecaster, finite
from forecasts.types import OBSERVED_HOURS, RISE_QUANTILES, FloatArray, Forecast, ForecastStatus

BreachKey = tuple[float, int]
"""A breach question: (limit, hours ahead)."""


@dataclass(frozen=True)
class Outputs:
    """Everything one queue's state answers at one hour.

    Attributes:
        forecast: the selected model's forecast with its conformal band.
        breach: per (limit, hours), the crossing probability and the model behind it.
        arrivals: the flow model's forecast arrivals per hour (None without one).
        resolutions: the flow model's forecast resolutions per hour.
    """

    forecast: Forecast
    breach: dict[BreachKey, tuple[float, str]]
    arrivals: FloatArray | None
    resolutions: FloatArray | None


def outputs(
    state: EngineState,
    settings: EngineSettings,
    queue: str,
    questions: Sequence[BreachKey],
    pool: Mapping[str, Counts] | None = None,
) -> Outputs:
    """The forecast, breach probabilities for ``questions`` and the flows at ``last_hour``
    (``pool``: the calibration memories' counts summed over queues, :func:`pooled_counts`)."""
    breach = {q: breach_chance(state, settings, q[0], q[1], pool=pool) for q in questions}
    flow = state.fitted.get("flow")
    arrivals = resolutions = None
    if isinstance(flow, FlowForecaster):
        arrivals, resolutions = flow.forecast_flows(settings.horizon)
    return Outputs(forecast(state, settings, queue), breach, arrivals, resolutions)


def calibration(state: EngineState, name: str, steps: int, settings: EngineSettings) -> Calibration:
    """A model's error paths over ``steps`` from the last ``window`` origins (may be empty)."""
    return Calibration(state.ring.errors(members_of(name), steps, settings.window))


def forecast(state: EngineState, settings: EngineSettings, queue: str) -> Forecast:
    """The selected model's forecast at ``last_hour`` with its conformal band.

    Until the model has ``min_paths`` scored origins the band is a random walk's and
    the status ``insufficient_history`` (forecast rules then have no data).
    """
    name = state.selected
    point = current_forecast(state, name)
    status: ForecastStatus = "ok"
    if not finite(point):
        name, point, status = "naive", current_forecast(state, "naive"), "fallback"
    cal = calibration(state, name, settings.horizon, settings)
    if len(cal.paths) < settings.min_paths:
        status = "insufficient_history"
        cal = random_walk(state.ring.recent_actuals(settings.train_hours), settings.horizon)
    lower, upper = cal.band(point, settings.level)
    return Forecast(
        queue=queue,
        made_at=np.datetime64(state.last_hour, "h"),
        horizon_hours=settings.horizon,
        model=name,
        point=point,
        lower=lower,
        upper=upper,
        level=settings.level,
        breach_eta_hours=None,
        breach_probability=None,
        backtest_mase=state.scores.get(name),
        status=status,
        observed=state.ring.last_actuals(OBSERVED_HOURS + 1),
        rises=(
            state.ring.rise_quantiles(settings.alert_horizon, settings.window, RISE_QUANTILES)
            if settings.carry_rises
            else ()
        ),
    )


def breach_chance(
    state: EngineState,
    settings: EngineSettings,
    limit: float,
    steps: int,
    model: str | None = None,
    pool: Mapping[str, Counts] | None = None,
    track: str | None = None,
) -> tuple[float, str]:
    """Probability of crossing ``limit`` within ``steps`` hours, and the model behind it.

    The model's forecast plus each of its own past error paths is one outcome; the
    probability is the share of outcomes above the limit at some step. The model is
    ``model``, else the warning model, else the selected one, whichever first has
    ``min_paths`` paths; a random walk around the last value before any has. On a
    queue fast-jumping for this limit the steps are widened (:func:`breach_steps`).
    With ``calibration_prior`` set, the model's probability is read through the map of
    what its past probabilities meant on this queue (:mod:`forecasts.calibrate`): its
    ring's origins, or with ``calibration_half_life`` its decayed memory of this
    question (kept from now on: :func:`memory_inputs`), shrunk towards ``pool``'s map
    for the question's group (the counts summed over queues; the identity without).
    ``track``: see :func:`forecasts.calibrate.memory_key`.
    """
    if settings.calibration_prior is not None and settings.calibration_half_life is not None:
        chance, name, counts, group = memory_inputs(state, settings, limit, steps, model, track)
        if counts is None:
            return chance, name
        shared = pool.get(group) if pool is not None else None
        return memory_chance(chance, counts, shared, settings.calibration_prior), name
    steps = breach_steps(state, settings, limit, steps)
    first = model or settings.warning_model
    key = (
        "breach_chance",
        first,
        limit,
        steps,
        settings.window,
        settings.min_paths,
        settings.train_hours,
        settings.calibration_prior,
    )
    return per_hour(state, key, lambda: _breach_chance(state, settings, limit, steps, first))


def memory_inputs(
    state: EngineState,
    settings: EngineSettings,
    limit: float,
    steps: int,
    model: str | None = None,
    track: str | None = None,
) -> tuple[float, str, Counts | None, str]:
    """The uncalibrated probability, its model, the question's own counts (None when
    the probability is not calibrated: no model had its paths yet) and its group.

    The first time a question is asked of a state its memory starts (empty); every
    time, the memory takes the limit asked (a rolling limit), and the engine counts
    each hour's forecast from the next hour on (:func:`forecasts.engine.step`), decayed
    with the half-life it started with (a changed ``calibration_half_life`` applies to
    memories started after the change).
    """
    first = model or settings.warning_model
    key, group = memory_key(first, steps, limit, track)
    memory = state.memories.get(key)
    if memory is None:
        half_life = settings.calibration_half_life
        assert half_life is not None
        memory = state.memories[key] = Memory(group, first, steps, limit, half_life)
    memory.limit = limit
    widened = breach_steps(state, settings, limit, steps)
    chance, name, known = raw_breach_chance(state, settings, limit, widened, first)
    return chance, name, (memory.counts.copy() if known else None), group


def pooled_counts(states: Iterable[EngineState]) -> dict[str, Counts]:
    """Per memory group, the counts summed over ``states`` (in the order given)."""
    out: dict[str, list[Counts]] = {}
    for state in states:
        for memory in state.memories.values():
            out.setdefault(memory.group, []).append(memory.counts)
    return {group: pooled(counts) for group, counts in out.items()}


def _breach_chance(
    state: EngineState, settings: EngineSettings, limit: float, steps: int, first: str | None
) -> tuple[float, str]:
    chance, name, known = raw_breach_chance(state, settings, limit, steps, first)
    if known and settings.calibration_prior is not None:
        chance = calibrated(
            state.ring,
            members_of(name),
            steps,
            settings.window,
            limit,
            chance,
            settings.calibration_prior,
        )
    return chance, name


def band_crosses(
    state: EngineState, settings: EngineSettings, limit: float, steps: int, model: str
) -> tuple[float, str]:
    """1.0 when ``model``'s conformal upper band edge exceeds ``limit`` within ``steps``.

    Datadog's forecast-monitor semantics, for comparison; 0.0 until the model has
    ``min_paths`` error paths.
    """
    key = ("band_upper", model, steps, settings.window, settings.min_paths, settings.level)
    upper = per_hour(state, key, lambda: _upper_band(state, settings, steps, model))
    if upper is None:
        return 0.0, model
    return float(np.any(upper > limit)), model


def _upper_band(
    state: EngineState, settings: EngineSettings, steps: int, model: str
) -> FloatArray | None:
    """``model``'s conformal upper band edge over ``steps`` (None without enough paths)."""
    point = current_forecast(state, model)[:steps]
    cal = calibration(state, model, steps, settings)
    if not finite(point) or len(cal.paths) < settings.min_paths:
        return None
    return cal.band(point, settings.level)[1]
