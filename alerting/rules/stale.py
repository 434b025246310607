"""``kind: stale``: the longest an open ticket has gone without update (or waited).

``measure: no_update`` reads the time since the least recently updated open ticket;
``measure: waiting`` the longest time in a waiting status (``status`` restricts it to
one). ``threshold`` is an age (``3d``). ``tiers`` expresses "remind after 3 days, escalate
to the supervisor after 7": each tier becomes a rule of its own (:func:`expand_tiers`),
named ``<name>_tier<i>`` with its own severity and receivers. The alert text lists the
tickets past the age (id, status, age, assignee), at most ``listed`` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.rules.common import (
    LOOKBACK,
    EvalContext,
    Measured,
    Row,
    RuleBase,
    Threshold,
    newest_at,
)
from alerting.state import NoData
from config.durations import format_duration


class Tier(BaseModel):
    """One step of a tiered stale rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after: Threshold = Field(description="age past which the tier fires (3d)")
    severity: Literal["critical", "warning", "info"]
    receivers: tuple[str, ...] = Field(min_length=1, description="who this tier notifies")


class StaleRule(RuleBase):
    """Oldest time without update, or in a waiting status, against an age."""

    kind: Literal["stale"]
    measure: Literal["no_update", "waiting"] = "no_update"
    status: str | None = Field(None, description="measure: waiting: only this status")
    tiers: tuple[Tier, ...] = ()
    listed: int = Field(5, ge=1, le=50, description="tickets named in the alert")

    @model_validator(mode="before")
    @classmethod
    def _first_tier_is_threshold(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("tiers") and "threshold" not in data:
            first = data["tiers"][0]
            if isinstance(first, Mapping) and "after" in first:
                return {**data, "threshold": first["after"]}
        return data

    @model_validator(mode="after")
    def _tiers_ascend(self) -> StaleRule:
        ages = [t.after for t in self.tiers]
        if ages != sorted(set(ages)):
            raise ValueError("tiers must have strictly increasing ages (after)")
        if self.status is not None and self.measure != "waiting":
            raise ValueError("status applies to measure: waiting only")
        return self

    def expression(self) -> str:
        if self.measure == "no_update":
            return "oldest_update_age"
        where = f"{{status={self.status!r}}}" if self.status else ""
        return f"oldest_waiting_age{where}"

    def compute(
        self, rows: Sequence[Row], now: datetime, ctx: EvalContext, key: tuple[str, str]
    ) -> Measured | NoData:
        latest = newest_at(rows, now)
        if not latest or now - rows[latest - 1]["ts"] > LOOKBACK:
            return NoData("no recent snapshot of the queue")
        workload = rows[latest - 1].get("workload") or {}
        age, tickets, source = self._measure(workload)
        if age is None:
            return NoData(f"the source does not give {self.expression()}")
        limit, _ = self.limits(self.labels_for(*key))
        past = [t for t in tickets if t["age_s"] > limit]
        text = self.expression() + (f" [{source}]" if source else "")
        if past:
            text += f" (tickets: {listing(past, self.listed)})"
        return Measured(age, text)

    def _measure(
        self, workload: Mapping[str, Any]
    ) -> tuple[float | None, list[Mapping[str, Any]], str]:
        if self.measure == "no_update":
            if workload.get("stale") is None:
                return None, [], ""
            return workload.get("oldest_update_age_s") or 0.0, workload["stale_tickets"], ""
        waiting = workload.get("waiting")
        if waiting is None:
            return None, [], ""
        chosen = [w for w in waiting if self.status in (None, w["status"])]
        ages = [w["oldest_age_s"] for w in chosen if w["oldest_age_s"] is not None]
        tickets = [t for t in workload["waiting_tickets"] if self.status in (None, t["status"])]
        source = chosen[0]["age_from"] if chosen else ""
        return max(ages, default=0.0), tickets, f"age from {source}" if source else ""


def listing(tickets: Sequence[Mapping[str, Any]], limit: int) -> str:
    """``INC1 (Active, 9d, agent 14), INC2 (...) and 3 more``."""
    shown = [
        f"{t['id']} ({t['status']}, {format_duration(timedelta(seconds=int(t['age_s'])))},"
        f" {'agent ' + t['assignee'] if t['assignee'] else 'unassigned'}"
        f"{', ' + t['url'] if t.get('url') else ''})"
        for t in tickets[:limit]
    ]
    more = f" and {len(tickets) - limit} more listed" if len(tickets) > limit else ""
    return ", ".join(shown) + more


def expand_tiers(rules: Sequence[RuleBase]) -> list[RuleBase]:
    """Each tiered stale rule as one rule per tier (``<name>_tier<i>``, label ``tier``)."""
    out: list[RuleBase] = []
    for rule in rules:
        if not isinstance(rule, StaleRule) or not rule.tiers:
            out.append(rule)
            continue
        for i, tier in enumerate(rule.tiers, start=1):
            out.append(
                rule.model_copy(
                    update={
                        "name": f"{rule.name}_tier{i}",
                        "threshold": tier.after,
                        "severity": tier.severity,
                        "receivers": tier.receivers,
                        "labels": {**rule.labels, "tier": str(i)},
                        "tiers": (),
                    }
                )
            )
    return out
