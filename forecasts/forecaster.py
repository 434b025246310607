"""Per-queue forecasting: select on a schedule, update state hourly, emit Forecasts.

:func:`reselect` runs the backtest selection and fits the chosen model (rarely: daily,
say). :func:`refresh` advances the fitted state over new hours without estimating
anything (every hour). :func:`make_forecast` turns a state into a :class:`Forecast`
with calibrated bands and the breach ETA and probability for a limit. All pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from forecasts.backtest import FIT_ERRORS, BacktestConfig, backtest_model
from forecasts.bands import Calibration, from_residuals, random_walk
from forecasts.breach import breach_eta, breach_probability
from forecasts.fitwarnings import counted_warnings
from forecasts.models import MODELS
from forecasts.models.base import FittedModel, Model, advance, finite
from forecasts.models.naive import NaiveModel
from forecasts.select import MIN_ORIGINS, Selection, select_model
from forecasts.types import Forecast, ForecastStatus, HourlySeries

DEFAULT_CANDIDATES: tuple[str, ...] = (
    "naive",
    "seasonal_naive",
    "flow",
    "drift",
    "ets",
    "ets_daily",
    "combo",
)
"""Models selection tries by default; ``linear`` is left out (a poor default)."""


@dataclass(frozen=True)
class ForecastSettings:
    """How queues are forecast.

    Attributes:
        horizon: hours forecast.
        level: nominal band coverage.
        candidates: model names tried by selection.
        backtest: backtest settings for selection and calibration.
        warning_model: the model whose calibrated paths give breach probabilities
            (``warning`` by default); None uses the selected model.
    """

    horizon: int = 24
    level: float = 0.8
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    warning_model: str | None = "warning"

    def models(self) -> Sequence[Model]:
        """The candidate models."""
        return [MODELS[name] for name in self.candidates]


@dataclass(frozen=True)
class WarningState:
    """The early-warning model of a queue: fitted, and calibrated on its own backtest.

    Attributes:
        model: its name.
        fitted: the fitted model, advanced with the queue's state.
        calibration: its backtest error paths.
    """

    model: str
    fitted: FittedModel
    calibration: Calibration


@dataclass(frozen=True)
class QueueState:
    """What a queue's forecaster keeps between hours (bounded: no history copy).

    Attributes:
        selection: the last selection run.
        fitted: the chosen model, advanced to ``last_hour``.
        calibration: residual paths for bands and probabilities.
        last_hour: label of the last hour absorbed.
        last_open: open count at ``last_hour`` (the naive forecast of last resort).
        status: ``ok``, ``fallback`` or ``insufficient_history``.
        warning: the breach-probability model, when it is not the selected one.
    """

    selection: Selection
    fitted: FittedModel
    calibration: Calibration
    last_hour: np.datetime64
    last_open: float
    status: ForecastStatus
    warning: WarningState | None = None


def _fit(name: str, series: HourlySeries, train_hours: int) -> FittedModel | None:
    try:
        with counted_warnings():
            fitted = MODELS[name].fit(series.tail(train_hours))
            ok = finite(fitted.forecast(24))
    except FIT_ERRORS:
        return None
    return fitted if ok else None


def reselect(series: HourlySeries, settings: ForecastSettings) -> QueueState:
    """Select a model on the queue's backtest, fit it, and calibrate its bands."""
    selection = select_model(series, settings.models(), settings.backtest)
    fitted = _fit(selection.model, series, settings.backtest.train_hours)
    status = selection.status
    if fitted is None:
        fitted, status = NaiveModel().fit(series), "fallback"
    if len(selection.residuals):
        calibration = from_residuals(selection.residuals)
    else:
        calibration = random_walk(series.open[-settings.backtest.train_hours :], settings.horizon)
    last = series.timestamps[-1]
    warning = None
    if status != "insufficient_history":
        warning = _warning_state(series, settings, selection.model)
    return QueueState(selection, fitted, calibration, last, float(series.open[-1]), status, warning)


def _warning_state(
    series: HourlySeries, settings: ForecastSettings, selected: str
) -> WarningState | None:
    """Backtest and fit the warning model; None when it is the selected one or fails."""
    name = settings.warning_model
    if name is None or name == selected:
        return None
    result = backtest_model(MODELS[name], series, settings.backtest)
    if result.failed or len(result.errors) < MIN_ORIGINS:
        return None
    fitted = _fit(name, series, settings.backtest.train_hours)
    if fitted is None:
        return None
    return WarningState(name, fitted, from_residuals(result.errors))


def _advance_warning(
    warning: WarningState | None, series: HourlySeries, new: int
) -> WarningState | None:
    if warning is None:
        return None
    try:
        with counted_warnings():
            fitted = advance(MODELS[warning.model], warning.fitted, series, new)
            ok = finite(fitted.forecast(24))
    except FIT_ERRORS:
        ok = False
    return replace(warning, fitted=fitted) if ok else None


def refresh(state: QueueState, series: HourlySeries) -> QueueState:
    """Advance the state over the hours of ``series`` after ``state.last_hour``."""
    new = int((series.timestamps[-1] - state.last_hour) / np.timedelta64(1, "h"))
    if new <= 0:
        return state
    model = MODELS.get(state.selection.model, NaiveModel())
    try:
        with counted_warnings():
            fitted = advance(model, state.fitted, series, min(new, len(series)))
            ok = finite(fitted.forecast(24))
    except FIT_ERRORS:
        ok = False
    last, last_open = series.timestamps[-1], float(series.open[-1])
    warning = _advance_warning(state.warning, series, min(new, len(series)))
    if not ok:
        naive = NaiveModel().fit(series)
        return replace(
            state,
            fitted=naive,
            last_hour=last,
            last_open=last_open,
            status="fallback",
            warning=warning,
        )
    return replace(state, fitted=fitted, last_hour=last, last_open=last_open, warning=warning)


def breach_chance(state: QueueState, limit: float, steps: int) -> tuple[float, str]:
    """Probability of crossing ``limit`` within ``steps`` hours, and the model behind it.

    The warning model's calibrated paths are used when the queue has one; otherwise
    the selected model's (naive's random-walk band while history is short).
    """
    if state.warning is not None:
        point = state.warning.fitted.forecast(steps)
        if finite(point):
            return breach_probability(point, state.warning.calibration, limit), state.warning.model
    point = state.fitted.forecast(steps)
    if not finite(point):
        point = np.full(steps, state.last_open)
    return breach_probability(point, state.calibration, limit), state.selection.model


def make_forecast(
    queue: str, state: QueueState, settings: ForecastSettings, limit: float | None = None
) -> Forecast:
    """The forecast for ``queue`` from its state, with breach figures when ``limit`` is set."""
    point = state.fitted.forecast(settings.horizon)
    status = state.status
    if not finite(point):  # e.g. a horizon longer than the finiteness check covered
        point, status = np.full(settings.horizon, state.last_open), "fallback"
    model = state.selection.model if status != "fallback" else "naive"
    lower, upper = state.calibration.band(point, settings.level)
    eta = breach_eta(upper, limit) if limit is not None else None
    prob = breach_probability(point, state.calibration, limit) if limit is not None else None
    return Forecast(
        queue=queue,
        made_at=state.last_hour,
        horizon_hours=settings.horizon,
        model=model,
        point=point,
        lower=lower,
        upper=upper,
        level=settings.level,
        breach_eta_hours=eta,
        breach_probability=prob,
        backtest_mase=state.selection.chosen_mase,
        status=status,
    )


def forecast_queue(
    queue: str, series: HourlySeries, settings: ForecastSettings, limit: float | None = None
) -> Forecast:
    """Select, fit and forecast in one call (what a daily reselection does)."""
    return make_forecast(queue, reselect(series, settings), settings, limit)
