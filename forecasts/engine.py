"""The per-queue forecast engine: one step per hour, the same in the daemon and the backtest.

Every hour :func:`step` absorbs the newest hour of a queue and advances the state of
every base model (naive, drift, flow, daily ETS, the 6 h linear trend) by a cheap
update; parameters are estimated only on a schedule (:attr:`EngineSettings.refit`,
spread over the hours by the queue's ``phase``). Each model's forecast is written to
a bounded ring of past forecasts (:mod:`forecasts.ring`), so its errors against what
happened are known online:

* **selection** picks the candidate with the lowest mean absolute error at the alert
  horizon over the last ``window`` origins (naive unless another beats it by
  ``switch_margin``, and the model in force unless another beats it by that much);
* **calibration** takes the error paths of those same origins (split conformal), for
  the selected model's band and for the warning model's breach probability.

The combinations (``combo``, ``warning``) are the means of their members' forecasts,
so they cost nothing to run. ``monitor/forecasting.py`` calls :func:`catch_up` once
per hour per queue; ``forecasts/evaluation/replay.py`` calls it for every hour of a
history; the state is saved in the store between runs (:mod:`forecasts.codec`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar, cast

import numpy as np

from forecasts.bands import Calibration, random_walk
from forecasts.breach import breach_probability
from forecasts.calibrate import Memory, remember
from forecasts.fitwarnings import WarningTally, counted_warnings, fit_warnings
from forecasts.models import MODELS
from forecasts.models.base import (
    FIT_ERRORS,
    FittedModel,
    Model,
    Updatable,
    WarmStartable,
    finite,
)
from forecasts.models.combo import ComboModel, WarningModel
from forecasts.models.ets import EtsDailyModel, EtsEstimation
from forecasts.models.linear import LinearModel
from forecasts.ring import Ring
from forecasts.types import FloatArray, HourlySeries

BASE: dict[str, Model] = {
    "naive": MODELS["naive"],
    "drift": MODELS["drift"],
    "flow": MODELS["flow"],
    "ets_daily": MODELS["ets_daily"],
    "linear": LinearModel(window=6),
}
"""The models whose state the engine advances; the others are means of these."""


@cache
def base_models(ets_estimation: EtsEstimation) -> dict[str, Model]:
    """:data:`BASE` with daily ETS estimated as ``ets_estimation`` says."""
    if ets_estimation == "heuristic":
        return BASE
    return {**BASE, "ets_daily": EtsDailyModel(estimation=ets_estimation)}


COMBOS: dict[str, tuple[str, ...]] = {
    "combo": tuple(m.name for m in ComboModel().members),
    "warning": tuple(m.name for m in WarningModel().members),
}
"""Equal-weight combinations of base models (forecasts.models.combo)."""

T = TypeVar("T")

REFIT_HOURS: dict[str, int | None] = {
    "naive": None,
    "drift": None,
    "linear": None,
    "flow": 24,
    "ets_daily": 168,
}
"""Hours between parameter estimations; None: the model estimates nothing (its update
is exact). Daily ETS: see :data:`ETS_REFIT_HOURS`."""

ETS_REFIT_HOURS: dict[EtsEstimation, int] = {"heuristic": 168, "joint": 24}
"""Hours between daily-ETS estimations, by ``ets_estimation``: the heuristic one is
re-estimated weekly; the joint one daily (a week-old joint estimate was +4.9 % in
MASE at 6 h against a full refit, a day-old one is within 2 %: docs/forecasting.md,
Cost), warm-started from the previous day's parameters, at the queue's phase."""


def refit_hours(name: str, settings: EngineSettings) -> int | None:
    """Hours between ``name``'s parameter estimations under ``settings``."""
    if name == "ets_daily":
        return ETS_REFIT_HOURS[settings.ets_estimation]
    return REFIT_HOURS[name]


RETRY_HOURS = 24
"""A model that could not be fitted (short history, failure) is tried again this often."""


@dataclass(frozen=True)
class EngineSettings:
    """How every queue is forecast (one value for the whole daemon).

    Attributes:
        horizon: hours forecast.
        alert_horizon: the step selection is judged at.
        window: origins scored for selection and kept for calibration.
        train_hours: trailing hours a parameter estimation sees.
        candidates: models selection chooses from.
        warning_model: the model behind breach probabilities; None = the selected one.
        level: nominal band coverage.
        min_paths: error paths needed before a model is selected or calibrated.
        switch_margin: relative gain a model needs to replace naive or the model in force.
        burst_jump: a queue whose open count rose by at least this share of a rule's limit
            within ``alert_horizon`` hours, in its last ``window`` hours, is fast-jumping
            for that limit: its breach probability looks ``burst_widen`` times as far
            ahead (:func:`breach_steps`). None: never widen.
        burst_widen: how much further a fast-jumping queue's breach probability looks.
        calibration_prior: calibrate each breach probability on the queue's own past
            forecasts (:mod:`forecasts.calibrate`), shrunk to the uncalibrated value with
            this many pseudo-observations per probability bin. None: uncalibrated.
            Left out of :meth:`fingerprint` (``repr=False``): it is applied when a
            probability is read, so the saved state is the same with or without it.
        calibration_half_life: with ``calibration_prior``, calibrate on decayed
            reliability counts kept in the state per breach question (this half-life,
            in hours) shrunk towards the map pooled over queues
            (:class:`forecasts.calibrate.Memory`) instead of on the ring's origins.
            None: the ring's origins (the older calibration). Left out of
            :meth:`fingerprint`: a state without memories starts them empty.
        ets_estimation: how daily ETS is estimated (:class:`forecasts.models.ets.EtsModel`).
            Left out of :meth:`fingerprint` (``repr=False``): a state saved under one
            estimation is valid under the other (same state, only the next
            estimation and its schedule, :data:`ETS_REFIT_HOURS`, differ), so
            switching it keeps every saved state.
        carry_rises: whether each forecast carries the queue's own typical rises
            (:attr:`forecasts.types.Forecast.rises`, what a forecast rule's
            ``gate_quantile`` reads; about 0.1 ms a queue-hour). The daemon and the
            backtest turn it off when no rule reads them (``monitor.forecasting.carrying``).
            Left out of :meth:`fingerprint`: the state is the same either way.
    """

    horizon: int = 24
    alert_horizon: int = 6
    window: int = 168
    train_hours: int = 336
    candidates: tuple[str, ...] = ("naive", "drift", "flow", "ets_daily", "combo")
    warning_model: str | None = "warning"
    level: float = 0.8
    min_paths: int = 48
    switch_margin: float = 0.02
    burst_jump: float | None = None
    burst_widen: int = 2
    calibration_prior: float | None = field(default=None, repr=False)
    calibration_half_life: float | None = field(default=None, repr=False)
    ets_estimation: EtsEstimation = field(default="heuristic", repr=False)
    carry_rises: bool = field(default=True, repr=False)

    @property
    def warmup(self) -> int:
        """Hours a queue without a state is replayed over: enough to fill its ring."""
        return self.window + self.horizon + self.min_paths

    def fingerprint(self) -> str:
        """A short digest of the settings: a saved state made with others is not reused."""
        return f"{zlib.crc32(repr(self).encode()):08x}"


@dataclass
class EngineState:
    """One queue's engine state (bounded: no copy of the history).

    ``step`` updates it in place: it belongs to one caller (the job, or a replay).

    Attributes:
        last_hour: hours since the epoch of the last hour absorbed.
        fitted: each base model's fitted state (None until it can be fitted).
        attempted: the hour each base model was last estimated (or tried).
        ring: past forecasts of the base models, and the actual open counts.
        selected: the model in force.
        scores: MASE at the alert horizon per candidate over the scored origins (the
            mean absolute error divided by the mean absolute 24-hour change).
        warnings: statsmodels warnings counted while estimating, by category.
        current: each base model's forecast at ``last_hour`` (recomputed, not saved).
        memories: per breach question asked with a calibration memory, its decayed
            reliability counts (:func:`remember_question`).
    """

    last_hour: int
    fitted: dict[str, FittedModel | None]
    attempted: dict[str, int]
    ring: Ring
    selected: str = "naive"
    scores: dict[str, float] = field(default_factory=dict)
    warnings: WarningTally = field(default_factory=WarningTally)
    current: dict[str, FloatArray] = field(default_factory=dict)
    memories: dict[str, Memory] = field(default_factory=dict)


def hour_number(stamp: np.datetime64) -> int:
    """Hours since the epoch of an hour label."""
    return int(stamp.astype("datetime64[h]").astype(np.int64))


def phase_of(queue: str) -> int:
    """A stable hour offset per queue, which spreads estimations over the hours."""
    return zlib.crc32(queue.encode())


def new_state(settings: EngineSettings, first_hour: int) -> EngineState:
    """An empty state positioned just before ``first_hour``."""
    ring = Ring.empty(tuple(BASE), settings.window + settings.horizon, settings.horizon)
    return EngineState(first_hour - 1, dict.fromkeys(BASE), {}, ring)


def catch_up(
    state: EngineState | None,
    series: HourlySeries,
    settings: EngineSettings,
    phase: int,
    start_at: int | None = None,
) -> EngineState:
    """Step through every hour of ``series`` after ``state.last_hour``.

    Args:
        state: the queue's state, or None for a queue seen for the first time.
        series: the queue's hours up to now, oldest first, consecutive.
        settings: the engine settings.
        phase: the queue's :func:`phase_of`.
        start_at: for a new state, the index of the first hour stepped (default 0);
            the hours before it still feed the first estimations.
    """
    first = hour_number(series.timestamps[0])
    if state is None:
        state = new_state(settings, first + (start_at or 0))
    start = state.last_hour + 1 - first
    for i in range(max(0, start), len(series)):
        step(state, series.head(i + 1), settings, phase)
    return state


def step(state: EngineState, series: HourlySeries, settings: EngineSettings, phase: int) -> None:
    """Absorb the last hour of ``series`` (the hour after ``state.last_hour``).

    Args:
        state: the queue's state, updated in place.
        series: the queue's hours up to the one absorbed (at least ``train_hours`` of
            them when available: estimations read that tail).
        settings: the engine settings.
        phase: the queue's :func:`phase_of`.
    """
    hour = hour_number(series.timestamps[-1])
    new = series.tail(1)
    for name, model in base_models(settings.ets_estimation).items():
        fitted = _advance(state, name, model, series, new, hour, settings, phase)
        point = fitted.forecast(settings.horizon) if fitted is not None else None
        if point is None or not finite(point):
            state.fitted[name] = None
            point = np.full(settings.horizon, np.nan)
        state.current[name] = point
    state.ring.push(hour, float(new.open[-1]), state.current)
    state.last_hour = hour
    _select(state, settings)
    if state.memories:
        _remember(state, settings, hour)


def _remember(state: EngineState, settings: EngineSettings, hour: int) -> None:
    """Advance every memory: outcomes now known are counted, this hour's forecast is
    issued (the probability :func:`raw_breach_chance` gives, as a rule reads it)."""
    for memory in state.memories.values():
        remember(memory, hour, state.ring.crossed)
        steps = breach_steps(state, settings, memory.limit, memory.steps)
        chance, _, known = raw_breach_chance(state, settings, memory.limit, steps, memory.model)
        if known:
            memory.pending.append((hour, chance, steps, memory.limit))


def estimation_due(
    state: EngineState, hours: Iterable[int], phase: int, settings: EngineSettings
) -> bool:
    """Whether any base model estimates parameters at one of ``hours``.

    The forecast job reads a queue's whole history window only then.
    """
    return any(
        _due(state, name, hour, phase, refit_hours(name, settings))
        for hour in hours
        for name in BASE
    )


def _due(state: EngineState, name: str, hour: int, phase: int, every: int | None) -> bool:
    last = state.attempted.get(name)
    if last is None:
        return True
    if state.fitted[name] is None:
        return hour - last >= RETRY_HOURS
    if every is None:
        return False
    return hour - last >= RETRY_HOURS and (hour + phase) % every == 0


def _advance(
    state: EngineState,
    name: str,
    model: Model,
    series: HourlySeries,
    new: HourlySeries,
    hour: int,
    settings: EngineSettings,
    phase: int,
) -> FittedModel | None:
    fitted = state.fitted[name]
    try:
        with counted_warnings(state.warnings):
            if _due(state, name, hour, phase, refit_hours(name, settings)):
                train = series.tail(settings.train_hours)
                if len(train) < model.min_history:
                    return fitted
                state.attempted[name] = hour
                if isinstance(model, WarmStartable):
                    fitted = model.refit(train, fitted)
                else:
                    fitted = model.fit(train)
                state.warnings.add(fit_warnings(fitted))
            elif isinstance(fitted, Updatable):
                fitted = fitted.update(new)
    except FIT_ERRORS:
        fitted = None
    state.fitted[name] = fitted
    return fitted


def members_of(name: str) -> tuple[str, ...]:
    """The base models a model is made of (itself for a base model)."""
    return COMBOS.get(name, (name,))


def per_hour(state: EngineState, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, a function of the state at its last hour, once per hour.

    Kept in the ring's memo (cleared by every push, i.e. every hour absorbed) with the
    selected model and the current forecasts it was computed from; recomputed when
    either was replaced since. The forecast job, the replay and every question of an
    hour share it: the same value, computed once.
    """
    guard = (state.selected, *state.current.values())
    stored = state.ring.memo.get(key)
    if stored is not None:
        seen, value = cast(tuple[tuple[object, ...], T], stored)
        same = len(seen) == len(guard) and seen[0] == guard[0]
        if same and all(a is b for a, b in zip(seen[1:], guard[1:], strict=True)):
            return value
    value = compute()
    state.ring.memo[key] = (guard, value)
    return value


def current_forecast(state: EngineState, name: str) -> FloatArray:
    """A model's forecast at ``last_hour`` (NaN when a member has none): a fresh copy."""
    members = members_of(name)
    mean = per_hour(
        state,
        ("current_forecast", name),
        lambda: np.asarray(np.mean([state.current[m] for m in members], axis=0)),
    )
    return mean.copy()


def mase_scale(actual: FloatArray, season: int = 24) -> float:
    """Mean absolute 24-hour change (M4's MASE scale), 1-hour change if flat, else 1."""
    for m in (season, 1):
        if len(actual) > m:
            scale = float(np.mean(np.abs(actual[m:] - actual[:-m])))
            if scale > 0:
                return scale
    return 1.0


def _select(state: EngineState, settings: EngineSettings) -> None:
    """Choose the candidate with the lowest recent error at the alert horizon."""
    scores = {}
    scale = mase_scale(state.ring.recent_actuals(state.ring.size))
    for name in settings.candidates:
        errors = state.ring.errors(members_of(name), settings.alert_horizon, settings.window)
        column = errors[:, -1]
        if np.isfinite(current_forecast(state, name)).all() and len(column) >= settings.min_paths:
            scores[name] = float(np.mean(np.abs(column))) / scale
    state.scores = scores
    if "naive" not in scores:
        state.selected = "naive"
        return
    keep = 1 - settings.switch_margin
    best = min(scores, key=lambda n: (scores[n], n != "naive"))
    if scores[best] >= keep * scores["naive"]:
        best = "naive"
    held = state.selected
    if held in scores and best != held and scores[best] >= keep * scores[held]:
        best = held
    state.selected = best


def breach_steps(state: EngineState, settings: EngineSettings, limit: float, steps: int) -> int:
    """How far ahead a breach probability of ``limit`` within ``steps`` hours looks.

    ``steps``, widened ``burst_widen`` times (up to ``horizon``) when the queue is
    fast-jumping for this limit: its own last ``window`` hours hold a rise over
    ``alert_horizon`` hours of at least ``burst_jump`` x ``limit``. Decided from the
    queue's history only, hour by hour, the same in the daemon and the backtest.
    """
    if settings.burst_jump is None or limit <= 0:
        return steps
    rise = state.ring.largest_rise(settings.alert_horizon, settings.window)
    if rise < settings.burst_jump * limit:
        return steps
    return max(steps, min(settings.horizon, steps * settings.burst_widen))


def raw_breach_chance(
    state: EngineState, settings: EngineSettings, limit: float, steps: int, first: str | None
) -> tuple[float, str, bool]:
    """The uncalibrated probability of crossing ``limit`` within ``steps`` hours.

    The model is ``first``, else the selected one, else naive, whichever first has
    ``min_paths`` error paths (its forecast plus each path is one outcome); without
    any, a random walk around the last value. Returns the probability, the model, and
    whether it came from the model's own paths (only those are calibrated).
    Memoised per hour.
    """
    key = (
        "raw_breach_chance",
        first,
        limit,
        steps,
        settings.window,
        settings.min_paths,
        settings.train_hours,
    )
    return per_hour(state, key, lambda: _raw_breach_chance(state, settings, limit, steps, first))


def _raw_breach_chance(
    state: EngineState, settings: EngineSettings, limit: float, steps: int, first: str | None
) -> tuple[float, str, bool]:
    for name in [first, state.selected, "naive"]:
        if name is None:
            continue
        point = current_forecast(state, name)[:steps]
        cal = Calibration(state.ring.errors(members_of(name), steps, settings.window))
        if finite(point) and len(cal.paths) >= settings.min_paths:
            return breach_probability(point, cal, limit), name, True
    point = current_forecast(state, "naive")[:steps]
    cal = random_walk(state.ring.recent_actuals(settings.train_hours), steps)
    return breach_probability(point, cal, limit), "naive", False
