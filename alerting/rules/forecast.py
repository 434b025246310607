"""``kind: forecast``: warn before a queue crosses its limit (Datadog's forecast semantics).

Fires when the upper edge of the calibrated forecast band reaches ``threshold`` within
``horizon`` (or, with ``min_probability``, when the breach probability does); resolves
once it no longer does, below ``recover_threshold`` if one is set. The forecasts come
from ``forecasts/``; a queue without one (too little history) has no data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, number
from alerting.state import Breaching, NoData, Ok, Outcome
from config.durations import Duration, format_duration


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
        limit = recover if firing else self.min_probability
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
            return Measured(probability, f"{self.expression()} ({model})")
        series = forecast.upper if self.band == "upper" else forecast.point
        window = list(series[:steps])
        if not window:
            return NoData("the forecast is empty")
        return Measured(max(window), f"{self.expression()} ({forecast.model})")
