"""``kind: forecast``: warn before a queue crosses its limit (Datadog's forecast semantics).

Fires when the upper edge of the calibrated forecast band reaches ``threshold`` within
``horizon`` (or, with ``min_probability``, when the breach probability does); resolves
once it no longer does, below ``recover_threshold`` if one is set. The forecasts come
from ``forecasts/``; a queue without one (too little history) has no data.

With ``gate_probability`` the probability rule has a second stage: while the queue's
observed open count is at least ``gate_level`` x the threshold and higher than it was
``gate_rise`` earlier (the *gate*, read from the hours the forecast carries), the rule
fires at ``gate_probability`` instead of ``min_probability`` (and resolves below
``recover_probability`` scaled by the same ratio). With ``gate_quantile`` the gate's
level comes from the queue's own history instead: the open count must be within the
queue's own ``gate_quantile`` rise over the engine's alert horizon (6 h) of the
threshold (the rises the forecast carries, :attr:`forecasts.types.Forecast.rises`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, number
from alerting.state import Breaching, NoData, Ok, Outcome
from config.durations import Duration, format_duration
from forecasts.types import OBSERVED_HOURS, RISE_QUANTILES


@dataclass(frozen=True)
class GatedMeasured(Measured):
    """A breach probability with whether the two-stage rule's gate is open."""

    gate_open: bool = False


def gate_open(observed: Sequence[float], threshold: float, level: float, rise_hours: int) -> bool:
    """Whether the open count ``observed[-1]`` is at least ``level`` x ``threshold`` and
    higher than ``rise_hours`` earlier (both hours known; closed on a shorter history)."""
    return rising_from(observed, level * threshold, rise_hours)


def own_gate_floor(threshold: float, rises: Sequence[float], quantile: float) -> float:
    """The gate's level from the queue's own history: ``threshold`` less the queue's own
    ``quantile`` rise (``rises`` at :data:`RISE_QUANTILES`); infinite (the gate closed)
    while the forecast carries no rises."""
    if len(rises) != len(RISE_QUANTILES) or not math.isfinite(
        rises[RISE_QUANTILES.index(quantile)]
    ):
        return math.inf
    return threshold - rises[RISE_QUANTILES.index(quantile)]


def rising_from(observed: Sequence[float], floor: float, rise_hours: int) -> bool:
    """Whether the open count ``observed[-1]`` is at least ``floor`` and higher than
    ``rise_hours`` earlier (both hours known; closed on a shorter history)."""
    if len(observed) <= rise_hours:
        return False
    now, before = observed[-1], observed[-1 - rise_hours]
    if not (math.isfinite(now) and math.isfinite(before)):
        return False
    return now >= floor and now > before


class ForecastRule(RuleBase):
    """The band's edge (or the point forecast) at its highest within the horizon."""

    kind: Literal["forecast"]
    horizon: Duration = timedelta(hours=6)
    band: Literal["upper", "point"] = "upper"
    max_age: Duration = Field(
        timedelta(hours=2), description="a forecast older than this counts as no data"
    )
    min_probability: float | None = Field(
        None,
        gt=0,
        le=1,
        description="fire on the probability of crossing the limit within the horizon",
    )
    recover_probability: float | None = Field(
        None, gt=0, le=1, description="while firing, resolve only below this probability"
    )
    gate_probability: float | None = Field(
        None,
        gt=0,
        le=1,
        description="two-stage rule: fire at this lower probability while the gate is open",
    )
    gate_level: float = Field(
        0.9, gt=0, le=1, description="gate: open count at least this share of the threshold"
    )
    gate_rise: Duration = Field(
        timedelta(hours=3), description="gate: open count higher than this long ago"
    )
    gate_quantile: float | None = Field(
        None,
        description="gate from the queue's own history: open count within the queue's own"
        f" rise over 6 h at this quantile ({', '.join(map(str, RISE_QUANTILES))}) of the"
        " threshold, instead of gate_level x the threshold",
    )

    @model_validator(mode="after")
    def _valid_gate(self) -> ForecastRule:
        if self.gate_quantile is not None and self.gate_quantile not in RISE_QUANTILES:
            raise ValueError(f"gate_quantile must be one of {', '.join(map(str, RISE_QUANTILES))}")
        if self.gate_probability is None:
            if self.gate_quantile is not None:
                raise ValueError("gate_quantile needs a gate_probability")
            return self
        if self.min_probability is None or self.gate_probability >= self.min_probability:
            raise ValueError("gate_probability needs a min_probability above it")
        hours = self.gate_rise / timedelta(hours=1)
        if hours != int(hours) or not 1 <= hours <= OBSERVED_HOURS:
            raise ValueError(f"gate_rise must be whole hours from 1h to {OBSERVED_HOURS}h")
        return self

    def expression(self) -> str:
        if self.min_probability is not None:
            return f"P(open > {number(self.threshold)} within {format_duration(self.horizon)})"
        return f"max({self.band}_forecast[{format_duration(self.horizon)}])"

    def decide(self, measured: Measured, labels: Mapping[str, str], firing: bool) -> Outcome:
        if self.min_probability is None:
            return super().decide(measured, labels, firing)
        recover = (
            self.recover_probability
            if self.recover_probability is not None
            else (self.min_probability)
        )
        alert = self.min_probability
        gated = isinstance(measured, GatedMeasured) and measured.gate_open
        if self.gate_probability is not None and gated:
            scale = self.gate_probability / self.min_probability
            alert, recover = self.gate_probability, recover * scale
        limit = recover if firing else alert
        text = f"{measured.text} = {measured.value:.2f}"
        if measured.value >= limit:
            return Breaching(measured.value, f"{text} >= {limit:g}")
        return Ok(measured.value, f"{text}, below {limit:g}")

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        forecast = ctx.forecasts.get(key)
        if forecast is None:
            return NoData("no forecast for the queue")
        if forecast.status == "insufficient_history":
            return NoData("insufficient_history")
        if now - forecast.made_at > self.max_age:
            return NoData(f"the latest forecast is from {forecast.made_at.isoformat()}")
        steps = max(1, int(self.horizon / timedelta(hours=1)))
        if self.min_probability is not None:
            threshold, _ = self.limits(self.labels_for(*key))
            probability = forecast.breach_probability.get(f"{threshold:g}@{steps}")
            if probability is None:
                return NoData("no breach probability for this limit yet")
            model = forecast.breach_model or forecast.model
            text = f"{self.expression()} ({model})"
            if self.gate_probability is None:
                return Measured(probability, text)
            rise = int(self.gate_rise / timedelta(hours=1))
            floor = (
                self.gate_level * threshold
                if self.gate_quantile is None
                else own_gate_floor(threshold, forecast.rises, self.gate_quantile)
            )
            opened = rising_from(forecast.observed, floor, rise)
            return GatedMeasured(
                probability, f"{text}, gate {'open' if opened else 'closed'}", opened
            )
        series = forecast.upper if self.band == "upper" else forecast.point
        window = list(series[:steps])
        if not window:
            return NoData("the forecast is empty")
        return Measured(max(window), f"{self.expression()} ({forecast.model})")
