"""``kind: sla``: SLA breaches and first-response/resolution times against their target.

"Average resolution time exceeds the SLA target by 20%" is
``{kind: sla, measure: avg_resolution_time, target: 8h, exceeds_by: 20%, window: 1d}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, in_window, newest_at
from alerting.state import NoData
from config.durations import Duration, format_duration

SlaMeasure = Literal[
    "breached_open",
    "at_risk",
    "breached_ratio",
    "breached_in_window",
    "avg_first_response_time",
    "avg_resolution_time",
]
SlaKind = Literal["first_response", "resolution"]


class SlaRule(RuleBase):
    """Counts and times; ``exceeds_by`` turns ``target`` into the threshold."""

    kind: Literal["sla"]
    measure: SlaMeasure
    sla: SlaKind = "resolution"
    window: Duration = timedelta(hours=1)
    target: Duration | None = Field(None, description="the SLA target, for avg_* measures")
    exceeds_by: float | None = Field(None, description="fraction (0.2) or percent text (20%)")

    @model_validator(mode="before")
    @classmethod
    def _threshold_from_target(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("exceeds_by") is None:
            return data
        data = dict(data)
        raw = data["exceeds_by"]
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError("exceeds_by must be a fraction (0.2) or a percentage (20%)")
        fraction = float(str(raw).rstrip("%")) / 100 if str(raw).endswith("%") else float(raw)
        data["exceeds_by"] = fraction
        target = data.get("target")
        if target is None:
            raise ValueError("exceeds_by needs a target, e.g. target: 8h")
        from config.durations import parse_duration

        data.setdefault("threshold", parse_duration(target).total_seconds() * (1 + fraction))
        data.setdefault("op", ">")
        return data

    @model_validator(mode="after")
    def _coherent(self) -> SlaRule:
        if self.measure.startswith("avg_") and self.target is None and self.exceeds_by is None:
            return self  # a plain threshold in seconds is fine too
        if self.measure == "avg_first_response_time" and self.sla != "first_response":
            object.__setattr__(self, "sla", "first_response")
        return self

    def expression(self) -> str:
        window = (
            f"[{format_duration(self.window)}]"
            if self.measure.startswith(("avg_", "breached_in"))
            else ""
        )
        return f'sla_{self.measure}{{sla="{self.sla}"}}{window}'

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        latest = newest_at(rows, now)  # rows[:latest] have ts <= now
        if not latest:
            return NoData("no snapshot of the queue")
        if self.measure.startswith("avg_"):
            return self._average(in_window(rows, now - self.window, now))
        if self.measure == "breached_in_window":
            inside = in_window(rows, now - self.window, now)
            counts = [_get(r.get("sla_breached_window"), self.sla) for r in inside]
            known = [c for c in counts if c is not None]
            if not known:
                return NoData(f"the source does not give {self.sla} SLA breaches")
            return Measured(float(sum(known)), self.expression())
        row = rows[latest - 1]
        column = "sla_at_risk" if self.measure == "at_risk" else "sla_breached_open"
        count = _get(row.get(column), self.sla)
        if count is None:
            return NoData(f"the source does not give {self.sla} SLA state")
        if self.measure == "breached_ratio":
            if not row["open_total"]:
                return Measured(0.0, self.expression())
            return Measured(count / row["open_total"], self.expression())
        return Measured(float(count), self.expression())

    def _average(self, rows: Sequence[Row]) -> Measured | NoData:
        """The resolved-weighted mean over ``rows``, the window's rows."""
        column = (
            "avg_resolution_s"
            if self.measure == "avg_resolution_time"
            else ("avg_first_response_s")
        )
        total, weight = 0.0, 0
        for row in rows:
            if row.get(column) is None:
                continue
            n = int(row.get("resolved") or 0)
            total, weight = total + float(row[column]) * n, weight + n
        if weight == 0:
            return NoData("no ticket resolved in the window")
        return Measured(total / weight, self.expression())


def _get(mapping: Any, key: str) -> float | None:
    return float(mapping[key]) if mapping and key in mapping else None
