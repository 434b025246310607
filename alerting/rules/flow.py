"""``kind: flow``: tickets arriving against tickets solved over a window, per hour."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, in_window
from alerting.state import NoData
from config.durations import Duration, format_duration

FlowMeasure = Literal[
    "net_inflow_per_hour", "created_per_hour", "resolved_per_hour", "created_to_resolved_ratio"
]


class FlowRule(RuleBase):
    """Net inflow (created - resolved) per hour, rates, or their ratio, over ``window``."""

    kind: Literal["flow"]
    measure: FlowMeasure = "net_inflow_per_hour"
    window: Duration = timedelta(hours=1)

    def expression(self) -> str:
        return f"{self.measure}[{format_duration(self.window)}]"

    def measure_rows(self, rows: Sequence[Row], now: datetime) -> tuple[int, int, float] | None:
        """``(created, resolved, hours covered)`` from the polls ending in the window.

        ``rows`` oldest first: the window (``start < ts <= now``) is found by bisection.
        """
        start = now - self.window
        inside = in_window(rows, start, now)
        created = [r["created"] for r in inside if r.get("created") is not None]
        resolved = [r["resolved"] for r in inside if r.get("resolved") is not None]
        if not inside or not created or not resolved:
            return None
        first = min(r["window_start"] for r in inside)
        hours = max((now - max(first, start)).total_seconds(), 1.0) / 3600
        return sum(created), sum(resolved), hours

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        counted = self.measure_rows(rows, now)
        if counted is None:
            return NoData("no created/resolved counts in the window")
        created, resolved, hours = counted
        if self.measure == "net_inflow_per_hour":
            value = (created - resolved) / hours
        elif self.measure == "created_per_hour":
            value = created / hours
        elif self.measure == "resolved_per_hour":
            value = resolved / hours
        elif resolved == 0:
            return NoData("no ticket resolved in the window: the ratio is undefined")
        else:
            value = created / resolved
        return Measured(value, self.expression())
