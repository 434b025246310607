"""The limits rules put on a queue's backlog, for charts ("backlog against its limit").

Only rules whose measure is the open-ticket count itself qualify: threshold rules on
``open_tickets`` without status or priority matchers (those limit a part of the queue),
and forecast rules (their threshold is a count of open tickets), with an upper-bound
operator. Overrides apply, so each queue shows the limit that decides its alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerting.rules import ForecastRule, RuleBase, ThresholdRule

Key = tuple[str, str]
UPPER_BOUNDS = (">", ">=")


@dataclass(frozen=True)
class BacklogLimit:
    """One rule's limit on one queue's open tickets."""

    rule: str
    limit: float


def limits_backlog(rule: RuleBase) -> bool:
    """True when ``rule`` caps the whole open count of a queue from above."""
    if rule.op not in UPPER_BOUNDS:
        return False
    if isinstance(rule, ForecastRule):
        return True
    if isinstance(rule, ThresholdRule):
        return rule.metric == "open_tickets" and not {"status", "priority"} & set(rule.match)
    return False


def backlog_limits(rules: Sequence[RuleBase], keys: Iterable[Key]) -> dict[Key, list[BacklogLimit]]:
    """Per ``(source, queue)``: the backlog limit of every rule that selects it.

    Args:
        rules: the configured rules (other kinds are skipped).
        keys: the queues to look up, e.g. those of the latest snapshots.
    """
    capping = [r for r in rules if limits_backlog(r)]
    out: dict[Key, list[BacklogLimit]] = {}
    for source, queue in keys:
        found = [
            BacklogLimit(r.name, float(r.limits(r.labels_for(source, queue))[0]))
            for r in capping
            if r.selects(source, queue)
        ]
        if found:
            out[(source, queue)] = found
    return out
