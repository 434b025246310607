"""``kind: routing``: misroute rate, reopen rate, reassignments per resolved ticket, or the
mean time to first assignment.

Summed over the tickets resolved in ``window`` (the polls ending in it): "misroute rate
over 15 % for 7 days" is ``measure: misroute_rate, window: 1d, threshold: 0.15,
for: 7d``; "time to first assignment over 4 h for 1 h" is ``measure:
first_assignment_mean, window: 1h, threshold: 4h, for: 1h`` (the waits of the tickets
resolved in the window that record one, summed, over how many they are: a mean, since a
poll keeps the count and the sum, not each ticket's wait). A store that does not record
the figure gives no data, never 0.
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
FIRST_ASSIGNMENT = "first_assignment_mean"
"""The measure whose value is a time (seconds; its threshold may be written ``4h``)."""


class RoutingRule(RuleBase):
    """A routing-quality ratio of the tickets resolved in ``window``."""

    kind: Literal["routing"]
    measure: Literal[
        "misroute_rate", "reopen_rate", "reassignments_per_resolved", "first_assignment_mean"
    ]
    window: Duration = timedelta(days=1)

    def expression(self) -> str:
        return f"{self.measure}[{format_duration(self.window)}]"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        if self.measure == FIRST_ASSIGNMENT:
            return self._first_assignment(rows, now)
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

    def _first_assignment(self, rows: Sequence[Row], now: datetime) -> Measured | NoData:
        """Summed waits over the resolved tickets that record a first assignment."""
        assigned, waited, recorded = 0, 0.0, False
        for row in in_window(rows, now - self.window, now):
            routing = (row.get("workload") or {}).get("routing") or {}
            if routing.get("first_assignment_s") is None or routing.get("assigned") is None:
                continue
            recorded = True
            assigned += int(routing["assigned"])
            waited += float(routing["first_assignment_s"])
        if not recorded:
            return NoData("the source does not record when tickets are first assigned")
        if assigned == 0:
            return NoData("no ticket resolved in the window was assigned: no mean")
        mean = waited / assigned
        shown = format_duration(timedelta(seconds=round(mean)))
        return Measured(mean, f"{self.expression()} ({shown} over {assigned} tickets)")
