"""Forecast models behind the narrow :class:`~forecasts.models.base.Model` protocol."""

from forecasts.models.base import FittedModel, InsufficientHistory, Model, Updatable
from forecasts.models.combo import ComboModel, WarningModel
from forecasts.models.drift import DriftModel
from forecasts.models.ets import EtsDailyModel, EtsModel
from forecasts.models.flow import FlowModel
from forecasts.models.linear import LinearModel
from forecasts.models.naive import NaiveModel
from forecasts.models.seasonal_naive import SeasonalNaiveModel

MODELS: dict[str, Model] = {
    "naive": NaiveModel(),
    "seasonal_naive": SeasonalNaiveModel(),
    "flow": FlowModel(),
    "drift": DriftModel(),
    "ets": EtsModel(),
    "ets_daily": EtsDailyModel(),
    "combo": ComboModel(),
    "linear": LinearModel(),
    "warning": WarningModel(),
}
"""Every model by name; ``naive`` is the fallback; ``warning`` drives breach probabilities."""

__all__ = [
    "MODELS",
    "ComboModel",
    "DriftModel",
    "EtsDailyModel",
    "EtsModel",
    "FittedModel",
    "FlowModel",
    "InsufficientHistory",
    "LinearModel",
    "Model",
    "NaiveModel",
    "SeasonalNaiveModel",
    "Updatable",
    "WarningModel",
]
