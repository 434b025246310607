"""Rules that exist without configuration: ``CollectorDown``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from alerting.rules.common import EvalContext, Measured, Row, RuleBase
from alerting.state import Breaching, Ok, Outcome


class CollectorDownRule(RuleBase):
    """Fires per source while its latest poll failed (held for ``for``, default 5m)."""

    kind: Literal["collector_down"] = "collector_down"
    name: str = "CollectorDown"
    threshold: float = 0.0

    def expression(self) -> str:
        return "backlog_collector_up == 0"

    def labels_for(self, source: str, queue: str) -> dict[str, str]:
        return {"alertname": self.name, "source": source, "severity": self.severity, **self.labels}

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured:
        return Measured(1.0 if key[0] in ctx.down else 0.0, self.expression())

    def outcome(
        self,
        rows: Sequence[Row],
        now: datetime,
        ctx: EvalContext,
        key: tuple[str, str],
        firing: bool,
        last_value: float | None,
    ) -> Outcome:
        reason = ctx.down.get(key[0])
        if reason is not None:
            return Breaching(1.0, f"the latest poll of {key[0]} failed ({reason})")
        return Ok(0.0, f"the latest poll of {key[0]} succeeded")
