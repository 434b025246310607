"""Backlog limits per queue: which rules cap the open count, after overrides."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from alerting.limits import BacklogLimit, backlog_limits, limits_backlog
from alerting.rules import Rule, RuleBase

RULES: TypeAdapter[Rule] = TypeAdapter(Rule)


def rule(**fields: Any) -> RuleBase:
    base = {"name": "High", "metric": "open_tickets", "op": ">", "threshold": 500}
    if fields.get("kind") == "forecast":
        del base["metric"]
    parsed: RuleBase = RULES.validate_python({**base, **fields})
    return parsed


class TestLimitsBacklog:
    def test_threshold_on_open_tickets_caps_the_backlog(self) -> None:
        """A '>' threshold rule on open_tickets is a backlog limit."""
        assert limits_backlog(rule())

    def test_status_matcher_limits_only_part_of_the_queue(self) -> None:
        """A rule on the pending tickets alone is not the queue's backlog limit."""
        assert not limits_backlog(rule(match={"status": "pending"}))

    def test_other_metrics_and_lower_bounds_are_not_limits(self) -> None:
        """Age thresholds and '<' comparisons do not cap the open count."""
        assert not limits_backlog(rule(metric="oldest_ticket_age_seconds"))
        assert not limits_backlog(rule(op="<"))

    def test_forecast_rules_cap_the_backlog(self) -> None:
        """A forecast rule's threshold is a count of open tickets."""
        assert limits_backlog(rule(kind="forecast", horizon="6h"))


class TestBacklogLimits:
    def test_each_selected_queue_gets_each_rule_s_limit(self) -> None:
        """Queues the rule's match selects get its threshold; others get nothing."""
        rules = [rule(match={"source": "desk"}), rule(name="Surge", threshold=900)]
        found = backlog_limits(rules, [("desk", "Billing"), ("other", "Sales")])
        assert found == {
            ("desk", "Billing"): [BacklogLimit("High", 500.0), BacklogLimit("Surge", 900.0)],
            ("other", "Sales"): [BacklogLimit("Surge", 900.0)],
        }

    def test_overrides_set_the_queue_s_own_limit(self) -> None:
        """An override for one queue replaces the threshold for that queue only."""
        rules = [rule(overrides=[{"match": {"queue": "Billing"}, "threshold": 50}])]
        found = backlog_limits(rules, [("desk", "Billing"), ("desk", "Sales")])
        assert found[("desk", "Billing")] == [BacklogLimit("High", 50.0)]
        assert found[("desk", "Sales")] == [BacklogLimit("High", 500.0)]
