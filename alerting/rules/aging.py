"""``kind: aging``: the oldest open ticket, or how many open tickets are older than N days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from alerting.rules.common import EvalContext, Measured, Row, RuleBase, newest_at
from alerting.rules.threshold import metric_value
from alerting.state import NoData

AgingMeasure = Literal[
    "oldest_age",
    "older_than_7d",
    "older_than_14d",
    "older_than_30d",
    "age_p50",
    "age_p90",
    "age_p99",
]
_METRIC = {
    "oldest_age": "oldest_ticket_age_seconds",
    "older_than_7d": "open_tickets_older_than_7d",
    "older_than_14d": "open_tickets_older_than_14d",
    "older_than_30d": "open_tickets_older_than_30d",
    "age_p50": "ticket_age_p50_seconds",
    "age_p90": "ticket_age_p90_seconds",
    "age_p99": "ticket_age_p99_seconds",
}


class AgingRule(RuleBase):
    """Ages are in seconds; thresholds may be written as durations (``threshold: 3d``)."""

    kind: Literal["aging"]
    measure: AgingMeasure = "oldest_age"

    def expression(self) -> str:
        return self.measure

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        latest = newest_at(rows, now)  # rows[:latest] have ts <= now
        if not latest:
            return NoData("no snapshot of the queue")
        value = metric_value(_METRIC[self.measure], rows[latest - 1])
        if value is None:
            return NoData(f"the source does not give {self.measure}")
        return Measured(value, self.expression())
