"""Alert rules: one module per kind, the union :data:`Rule`, and the built-in CollectorDown.

``reduce: avg`` with ``window: 2h`` is the mean of every sample of the last two hours
(Prometheus' ``avg_over_time``); ``for: 2h`` means the condition held at every
evaluation for two hours (a single dip resets it). Both can be combined.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Discriminator, Tag

from alerting.rules.absent import AbsentRule
from alerting.rules.aging import AgingRule
from alerting.rules.builtin import CollectorDownRule
from alerting.rules.common import (
    LOOKBACK,
    MATCH_LABELS,
    OPS,
    EvalContext,
    ForecastView,
    Measured,
    Override,
    RuleBase,
    number,
    render,
)
from alerting.rules.flow import FlowRule
from alerting.rules.forecast import ForecastRule
from alerting.rules.routingquality import RoutingRule
from alerting.rules.sla import SlaRule
from alerting.rules.stale import StaleRule, Tier, expand_tiers
from alerting.rules.threshold import REDUCERS, ThresholdRule, metric_value
from alerting.rules.wip import WipLimitRule


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "threshold"))
    return str(getattr(value, "kind", "threshold"))


Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[FlowRule, Tag("flow")]
    | Annotated[AgingRule, Tag("aging")]
    | Annotated[SlaRule, Tag("sla")]
    | Annotated[AbsentRule, Tag("absent")]
    | Annotated[ForecastRule, Tag("forecast")]
    | Annotated[WipLimitRule, Tag("wip_limit")]
    | Annotated[StaleRule, Tag("stale")]
    | Annotated[RoutingRule, Tag("routing")],
    Discriminator(_kind),
]
"""Every configurable rule kind; ``kind`` defaults to ``threshold``."""

KINDS = (
    "threshold",
    "flow",
    "aging",
    "sla",
    "absent",
    "forecast",
    "wip_limit",
    "stale",
    "routing",
)

__all__ = [
    "KINDS",
    "LOOKBACK",
    "MATCH_LABELS",
    "OPS",
    "REDUCERS",
    "AbsentRule",
    "AgingRule",
    "CollectorDownRule",
    "EvalContext",
    "FlowRule",
    "ForecastRule",
    "ForecastView",
    "Measured",
    "Override",
    "RoutingRule",
    "Rule",
    "RuleBase",
    "SlaRule",
    "StaleRule",
    "ThresholdRule",
    "Tier",
    "WipLimitRule",
    "expand_tiers",
    "metric_value",
    "number",
    "render",
]
