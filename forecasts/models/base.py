"""The narrow protocols every forecast model implements.

A :class:`Model` is configuration; ``fit`` estimates whatever it needs from a series
and returns a :class:`FittedModel`, which forecasts ``h`` hours ahead. Models whose
state can be advanced without re-estimating parameters also implement
:class:`Updatable`; :func:`advance` uses that when it can and refits otherwise.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from forecasts.types import FloatArray, HourlySeries

FIT_ERRORS = (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError)
"""What a failing fit may raise; the engine then drops the model until its next try."""


class InsufficientHistory(ValueError):
    """The series is too short for this model."""


class FittedModel(Protocol):
    """A model fitted to a series ending at some hour."""

    def forecast(self, h: int) -> FloatArray:
        """Point forecasts of the open backlog for hours 1..h."""
        ...


@runtime_checkable
class Updatable(Protocol):
    """A fitted model that can absorb new hours cheaply (parameters kept)."""

    def update(self, new: HourlySeries) -> FittedModel:
        """The model advanced over ``new`` (the hours after its last one)."""
        ...


@runtime_checkable
class WarmStartable(Protocol):
    """A model whose estimation can start from its previous fit (cheaper, same optimum)."""

    def refit(self, series: HourlySeries, previous: FittedModel | None) -> FittedModel:
        """Estimate on ``series``, starting from ``previous`` when it is given."""
        ...


@runtime_checkable
class FlowForecaster(Protocol):
    """A fitted model that also forecasts arrivals and resolutions."""

    def forecast_flows(self, h: int) -> tuple[FloatArray, FloatArray]:
        """Forecast (created, resolved) per hour for hours 1..h."""
        ...


class Model(Protocol):
    """A forecasting method: configuration plus ``fit``."""

    name: ClassVar[str]
    min_history: ClassVar[int]

    def fit(self, series: HourlySeries) -> FittedModel:
        """Estimate the model on ``series``; raise InsufficientHistory when too short."""
        ...


def require_history(series: HourlySeries, n: int, name: str) -> None:
    """Raise InsufficientHistory unless the series has at least ``n`` hours."""
    if len(series) < n:
        raise InsufficientHistory(f"{name} needs {n} hours, got {len(series)}")


def advance(model: Model, fitted: FittedModel, history: HourlySeries, new: int) -> FittedModel:
    """Bring ``fitted`` (fitted on ``history[:-new]``) up to the end of ``history``.

    Args:
        model: the model that produced ``fitted``; used to refit when not updatable.
        fitted: the fitted model.
        history: the full history, whose last ``new`` hours are new.
        new: how many hours were added.
    """
    if new == 0:
        return fitted
    if isinstance(fitted, Updatable):
        return fitted.update(history.tail(new))
    return model.fit(history)


def finite(values: FloatArray) -> bool:
    """True when every value is finite."""
    return bool(np.all(np.isfinite(values)))
