"""``kind: routing``: misroute rate, reopen rate or reassignments per resolved ticket.

Summed over the tickets resolved in ``window`` (the polls ending in it): "misroute rate
over 15 % for 7 days" is ``measure: misroute_rate, window: 1d, threshold: 0.15,
for: 7d``. A store that does not record the figure gives no data, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, in_window
from alerting.state import NoData
from config.durations import Duration, format_duration

_COUNT = {
    "misroute_rate": "misrouted",
    "reopen_rate": "reopened",
    "reassignments_per_resolved": "reassignments",
}


class RoutingRule(RuleBase):
    """A routing-quality ratio of the tickets resolved in ``window``."""

    kind: Literal["routing"]
    measure: Literal["misroute_rate", "reopen_rate", "reassignments_per_resolved"]
    window: Duration = timedelta(days=1)

    def expression(self) -> str:
        return f"{self.measure}[{format_duration(self.window)}]"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        field = _COUNT[self.measure]
        resolved = counted = 0
        recorded = False
        for row in in_window(rows, now - self.window, now):
            routing = (row.get("workload") or {}).get("routing") or {}
            if routing.get(field) is None:
                continue
            recorded = True
            resolved += int(routing["resolved"])
            counted += int(routing[field])
        if not recorded:
            return NoData(f"the source does not record {field}")
        if resolved == 0:
            return NoData("no ticket resolved in the window: the rate is undefined")
        return Measured(counted / resolved, f"{self.expression()} ({counted}/{resolved})")
