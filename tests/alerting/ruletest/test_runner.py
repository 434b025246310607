"""The runner: the real engine, step by step, against alert_rule_test expectations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerting.rules import AbsentRule, AgingRule, ThresholdRule
from alerting.ruletest import TestGroup, format_failure, run_group

MINUTE = timedelta(minutes=1)
PENDING = 'backlog_open_tickets{source="hd",queue="Billing",status="pending",priority="3"}'
LABELS = {"source": "hd", "queue": "Billing", "severity": "warning"}


def rule(**fields: Any) -> ThresholdRule:
    """open_tickets{status=pending} > 500 unless fields say otherwise."""
    base: dict[str, Any] = {
        "name": "High",
        "metric": "open_tickets",
        "match": {"status": "pending"},
        "threshold": 500,
    }
    return ThresholdRule.model_validate({**base, **fields})


def group(values: str, *tests: dict[str, Any], extra: tuple[dict[str, str], ...] = ()) -> TestGroup:
    """A one-series test group with the given alert_rule_test entries."""
    return TestGroup.model_validate(
        {
            "interval": "1m",
            "input_series": [{"series": PENDING, "values": values}, *extra],
            "alert_rule_test": list(tests),
        }
    )


class TestRunGroup:
    def test_firing_alert_passes(self) -> None:
        """An alert firing with the expected labels passes."""
        g = group(
            "600x5",
            {"eval_time": "2m", "alertname": "High", "exp_alerts": [{"exp_labels": LABELS}]},
        )
        assert run_group(g, [rule()], MINUTE).failures == []

    def test_unexpected_alert_fails(self) -> None:
        """An empty exp_alerts means nothing fires; a firing alert is a failure."""
        g = group("600x5", {"eval_time": "2m", "alertname": "High"})
        (failure,) = run_group(g, [rule()], MINUTE).failures
        assert failure.expected == () and len(failure.got) == 1
        assert "alertname: High, time: 2m" in format_failure(failure)

    def test_for_is_held_across_steps(self) -> None:
        """State carries between evaluations: for 3m fires 3 steps after it started."""
        tests: list[dict[str, Any]] = [
            {"eval_time": "2m", "alertname": "High"},
            {"eval_time": "3m", "alertname": "High", "exp_alerts": [{"exp_labels": LABELS}]},
        ]
        assert run_group(group("600x5", *tests), [rule(**{"for": "3m"})], MINUTE).failures == []

    def test_eval_time_between_steps_uses_the_earlier_one(self) -> None:
        """As in promtool, 2m30s is checked after the evaluation at 2m."""
        test = {"eval_time": "150s", "alertname": "High"}
        assert run_group(group("600x5", test), [rule(**{"for": "3m"})], MINUTE).failures == []

    def test_annotations_checked_when_given(self) -> None:
        """exp_annotations must match the rendered annotations exactly."""
        r = rule(annotations={"summary": "{queue} at {value}"})
        ok = {"exp_labels": LABELS, "exp_annotations": {"summary": "Billing at 600"}}
        bad = {"exp_labels": LABELS, "exp_annotations": {"summary": "Billing at 601"}}
        assert (
            run_group(
                group("600", {"eval_time": "0m", "alertname": "High", "exp_alerts": [ok]}),
                [r],
                MINUTE,
            ).failures
            == []
        )
        assert run_group(
            group("600", {"eval_time": "0m", "alertname": "High", "exp_alerts": [bad]}), [r], MINUTE
        ).failures

    def test_exp_state_checks_pending_and_resolved(self) -> None:
        """exp_state checks a state other than firing; a wrong one is a failure."""
        r = rule(**{"for": "2m"})
        tests: list[dict[str, Any]] = [
            {
                "eval_time": "1m",
                "alertname": "High",
                "exp_alerts": [{"exp_labels": LABELS, "exp_state": "pending"}],
            },
            {
                "eval_time": "5m",
                "alertname": "High",
                "exp_alerts": [{"exp_labels": LABELS, "exp_state": "resolved"}],
            },
        ]
        assert run_group(group("600x3 100x3", *tests), [r], MINUTE).failures == []
        wrong = {
            "eval_time": "5m",
            "alertname": "High",
            "exp_alerts": [{"exp_labels": LABELS, "exp_state": "inactive"}],
        }
        (failure,) = run_group(group("600x3 100x3", wrong), [r], MINUTE).failures
        assert failure.got[0].state == "resolved"

    def test_outage_keeps_state(self) -> None:
        """While collector_up is 0 the alert keeps firing (no_data/on_error: keep_last)."""
        up = {"series": 'backlog_collector_up{source="hd"}', "values": "1x2 0x5"}
        test = {"eval_time": "7m", "alertname": "High", "exp_alerts": [{"exp_labels": LABELS}]}
        assert run_group(group("600x2 _x5", test, extra=(up,)), [rule()], MINUTE).failures == []

    def test_unknown_alertname_fails(self) -> None:
        """An alertname with no rule is reported, not silently passed."""
        (failure,) = run_group(
            group("1", {"eval_time": "0m", "alertname": "Nope"}), [rule()], MINUTE
        ).failures
        assert "no rule named 'Nope'" in format_failure(failure)


class TestOtherKinds:
    def test_absent_fires_after_stale_after(self) -> None:
        """An absent rule fires once the queue's newest snapshot is older than stale_after."""
        absent = AbsentRule.model_validate({"name": "Gone", "kind": "absent", "stale_after": "5m"})
        tests: list[dict[str, Any]] = [
            {"eval_time": "8m", "alertname": "Gone"},
            {"eval_time": "9m", "alertname": "Gone", "exp_alerts": [{"exp_labels": LABELS}]},
        ]
        assert run_group(group("1x3 _x10", *tests), [absent], MINUTE).failures == []

    def test_aging_reads_the_newest_row(self) -> None:
        """An aging rule compares the oldest ticket's age of the newest snapshot."""
        aging = AgingRule.model_validate({"name": "Old", "kind": "aging", "threshold": "1h"})
        oldest = {
            "series": 'backlog_oldest_ticket_age_seconds{source="hd",queue="Billing"}',
            "values": "3500+60x3",
        }
        tests: list[dict[str, Any]] = [
            {"eval_time": "1m", "alertname": "Old"},
            {"eval_time": "2m", "alertname": "Old", "exp_alerts": [{"exp_labels": LABELS}]},
        ]
        assert run_group(group("1x3", *tests, extra=(oldest,)), [aging], MINUTE).failures == []
