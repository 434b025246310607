"""``kind: wip_limit``: open tickets per agent (or per queue) against a WIP limit.

Per agent, the queue's value is its busiest agent's open tickets and the alert names the
agents over the limit and those with spare capacity in the same queue; the rebalancing
suggestion (:mod:`alerting.rebalance`) rides on the firing notification, like the
staffing suggestion. Per queue, the value is the queue's assigned open tickets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from alerting.rebalance import Rebalance, rebalance
from alerting.rules.common import LOOKBACK, EvalContext, Measured, Row, RuleBase, newest_at
from alerting.state import NoData
from collectors.workload import OTHER


class WipLimitRule(RuleBase):
    """``wip_limit: 8`` per agent (default) or per queue; ``threshold`` is the limit."""

    kind: Literal["wip_limit"]
    wip_limit: int = Field(ge=1)
    per: Literal["agent", "queue"] = "agent"

    @model_validator(mode="before")
    @classmethod
    def _limit_is_threshold(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "wip_limit" in data and "threshold" not in data:
            return {**data, "threshold": data["wip_limit"]}
        return data

    def expression(self) -> str:
        return "max(agent_open_tickets)" if self.per == "agent" else "assigned_open_tickets"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        loads = latest_loads(rows, now)
        if loads is None:
            return NoData("the source gives no per-agent load (workload.agents)")
        if self.per == "queue":
            return Measured(float(sum(loads.values())), self.expression())
        named = {a: n for a, n in loads.items() if a != OTHER}
        if not named:
            return Measured(0.0, self.expression())
        plan = rebalance(named, self.limit_for(key))
        return Measured(float(max(named.values())), f"{self.expression()} ({describe(plan)})")

    def limit_for(self, key: tuple[str, str]) -> int:
        """The queue's WIP limit: ``wip_limit``, or an override's threshold."""
        return int(self.limits(self.labels_for(*key))[0])

    def plan(self, rows: Sequence[Row], now: datetime, key: tuple[str, str]) -> Rebalance | None:
        """The rebalancing suggestion for the queue's latest loads (per-agent rules)."""
        loads = latest_loads(rows, now)
        if loads is None or self.per != "agent":
            return None
        return rebalance(loads, self.limit_for(key))


def latest_loads(rows: Sequence[Row], now: datetime) -> dict[str, int] | None:
    """Open tickets per agent label in the queue's newest row (within LOOKBACK)."""
    latest = newest_at(rows, now)
    if not latest or now - rows[latest - 1]["ts"] > LOOKBACK:
        return None
    workload = rows[latest - 1].get("workload") or {}
    agents = workload.get("agents")
    if agents is None:
        return None
    return {a["agent"]: int(a["open"]) for a in agents}


def describe(plan: Rebalance) -> str:
    """``over: 14 (15 open); spare: 3 (2 open), 9 (4 open)``."""
    over = ", ".join(f"{a} ({n} open)" for a, n in plan.overloaded) or "none"
    spare = ", ".join(f"{a} ({n} open)" for a, n in plan.spare[:5]) or "none"
    more = f" and {len(plan.spare) - 5} more" if len(plan.spare) > 5 else ""
    return f"over {plan.limit}: {over}; spare capacity: {spare}{more}"
