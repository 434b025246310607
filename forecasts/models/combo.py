"""Equal-weight combinations: ``combo`` (naive, flow, daily ETS) and ``warning``.

Averaging a level-only forecast with two seasonal ones keeps naive's robustness and
part of the others' foresight of the morning ramp: on the ServiceNow total ``combo``
is about 11% better than naive at 6 h. ``warning`` adds the 6-hour linear trend
(``predict_linear``) as a fourth member: a poor forecast on its own, but it lets the
mean react to a queue that is climbing now, which the level and seasonal members
miss. Its calibrated breach probability drives the forecast rule; it catches more
breaches before onset than ``predict_linear`` alone, at more than twice the precision
and a longer lead (docs/forecasting.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from forecasts.models.base import FittedModel, Model, advance, require_history
from forecasts.models.ets import EtsDailyModel
from forecasts.models.flow import FlowModel
from forecasts.models.linear import LinearModel
from forecasts.models.naive import NaiveModel
from forecasts.types import FloatArray, HourlySeries


def _default_members() -> tuple[Model, ...]:
    return (NaiveModel(), FlowModel(), EtsDailyModel())


@dataclass(frozen=True)
class FittedCombo:
    """The members' fitted models."""

    members: tuple[Model, ...]
    fitted: tuple[FittedModel, ...]

    def forecast(self, h: int) -> FloatArray:
        """The mean of the members' forecasts."""
        return np.asarray(np.mean([f.forecast(h) for f in self.fitted], axis=0))

    def update(self, new: HourlySeries) -> FittedModel:
        """Advance every member over the new hours (refitting any that cannot update)."""
        fitted = tuple(
            advance(m, f, new, len(new)) for m, f in zip(self.members, self.fitted, strict=True)
        )
        return FittedCombo(self.members, fitted)


@dataclass(frozen=True)
class ComboModel:
    """Mean of naive, flow and daily ETS.

    Attributes:
        members: the combined models.
    """

    members: tuple[Model, ...] = field(default_factory=_default_members)
    name: ClassVar[str] = "combo"
    min_history: ClassVar[int] = 48

    def fit(self, series: HourlySeries) -> FittedModel:
        """Fit every member on the series."""
        require_history(series, self.min_history, self.name)
        return FittedCombo(self.members, tuple(m.fit(series) for m in self.members))


def _warning_members() -> tuple[Model, ...]:
    return (NaiveModel(), FlowModel(), EtsDailyModel(), LinearModel(window=6))


@dataclass(frozen=True)
class WarningModel(ComboModel):
    """Mean of naive, flow, daily ETS and the 6 h linear trend: the early-warning model."""

    members: tuple[Model, ...] = field(default_factory=_warning_members)
    name: ClassVar[str] = "warning"
