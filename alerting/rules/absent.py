"""``kind: absent``: a queue that no successful poll has reported for a while."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from alerting.rules.common import EvalContext, Measured, Row, RuleBase
from alerting.state import NoData, Outcome
from config.durations import Duration


class AbsentRule(RuleBase):
    """Fires when a queue's newest snapshot is older than ``stale_after``.

    The value is the age of the newest snapshot in seconds. Unlike other kinds, a failed
    poll does not keep the state: staleness is exactly what this rule watches.
    """

    kind: Literal["absent"]
    stale_after: Duration = timedelta(minutes=15)
    threshold: float = Field(0.0, description="set from stale_after")
    op: Literal[">"] = ">"

    def model_post_init(self, _context: object) -> None:
        object.__setattr__(self, "threshold", self.stale_after.total_seconds())

    def expression(self) -> str:
        return "time since the last snapshot"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        seen = ctx.last_seen.get(key)
        if seen is None:
            return NoData("the queue was never seen")
        return Measured(max(0.0, (now - seen).total_seconds()), self.expression())

    def outcome(
        self,
        rows: Sequence[Row],
        now: datetime,
        ctx: EvalContext,
        key: tuple[str, str],
        firing: bool,
        last_value: float | None,
    ) -> Outcome:
        measured = self.compute(rows, now, ctx, key)
        if isinstance(measured, NoData):
            return measured
        return self.decide(measured, self.labels_for(*key), firing)
