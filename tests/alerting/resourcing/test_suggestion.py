"""Suggestions, webhook payloads and the KEDA scaling document."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from alerting.resourcing.flow import (
    AgeProfile,
    BacklogBelow,
    FlowInputs,
    OldestAgeWithin,
    WaitWithin,
    plan,
)
from alerting.resourcing.status import QueueStatus
from alerting.resourcing.suggestion import (
    CLEARED,
    RECOMMENDATION,
    cleared_payload,
    envelope,
    format_span,
    is_stale,
    pod_workers_raw,
    recommendation_id,
    scaling_document,
    suggest,
)

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
BILLING = FlowInputs(backlog=670, arrival_rate=90, throughput=8, agents=12, shrinkage=0.2)
BY_14 = BacklogBelow(500, NOW + timedelta(hours=6))
WARN = QueueStatus.WARN
REFERENCE_SUMMARY = (
    "Add 3 agents to queue Billing for the next 6 hours (4 rostered) "
    "to bring backlog under 500 by 14:00 — projected 490 vs 634"
)


class TestSuggestion:
    def test_worked_example_summary(self) -> None:
        """The reference's message, word for word."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN, queue_name="Billing")
        assert s.summary == REFERENCE_SUMMARY

    def test_worked_example_fields(self) -> None:
        """12 → 15 agents (+3, +4 rostered), 08:00-14:00, 634 → 490."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN)
        assert (s.current, s.desired, s.delta, s.rostered_delta) == (12, 15, 3, 4)
        assert (s.window_start, s.window_end) == (NOW, BY_14.by)
        assert s.without_change == pytest.approx(634)
        assert s.with_change == pytest.approx(490)
        assert s.action == "scale_up"
        assert s.needed_raw == pytest.approx(14.79, abs=0.005)

    def test_payload_matches_the_reference(self) -> None:
        """to_payload gives the reference's resourcing.recommendation data."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN, queue_name="Billing")
        payload = s.to_payload("billing-20250602-0007", supersedes="billing-20250602-0006")
        assert payload == {
            "recommendation_id": "billing-20250602-0007",
            "supersedes": "billing-20250602-0006",
            "queue": "billing",
            "resource": "human_agents",
            "action": "scale_up",
            "current_capacity": 12,
            "desired_capacity": 15,
            "delta": 3,
            "rostered_delta": 4,
            "window": {"start": "2025-06-02T08:00:00Z", "end": "2025-06-02T14:00:00Z"},
            "objective": {"kind": "backlog_below", "value": 500, "by": "2025-06-02T14:00:00Z"},
            "projection": {"without_change": 634, "with_change": 490},
            "inputs": {
                "backlog": 670,
                "arrival_rate_per_hour": 90,
                "throughput_per_agent_hour": 8,
                "shrinkage": 0.2,
            },
            "status": "WARN",
            "expires_at": "2025-06-02T09:00:00Z",
            "summary": REFERENCE_SUMMARY,
        }
        json.dumps(payload)  # serialisable as is

    def test_stabilised_value_overrides_raw(self) -> None:
        """With desired=14 (the stabiliser's value) the projection is 538, a miss."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN, desired=14, queue_name="Billing")
        assert (s.delta, s.rostered_delta) == (2, 3)
        assert s.with_change == pytest.approx(538)
        assert s.summary.startswith(
            "Add 2 agents to queue Billing for the next 6 hours (3 rostered)"
        )

    def test_release_text(self) -> None:
        """Overstaffed queues release agents down to the pace of arrivals (40/h ÷ 8 = 5)."""
        quiet = FlowInputs(backlog=100, arrival_rate=40, throughput=8, agents=12, shrinkage=0.2)
        s = suggest("billing", BY_14, quiet, NOW, QueueStatus.OK, queue_name="Billing")
        assert (s.desired, s.action) == (5, "scale_down")
        assert s.summary == (
            "Release 7 agents from queue Billing for the next 6 hours (8 rostered): "
            "backlog under 500 by 14:00 is still met — projected 100 vs 0"
        )

    def test_hold_text(self) -> None:
        """When the staffing is right the sentence says so."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN, desired=12, queue_name="Billing")
        assert s.action == "hold"
        assert s.summary == (
            "Keep 12 agents on queue Billing: backlog under 500 by 14:00 is on track "
            "— projected 634 vs 634"
        )

    def test_singular_and_no_shrinkage(self) -> None:
        """One agent is singular; without shrinkage the rostered part is left out."""
        inputs = FlowInputs(backlog=10, arrival_rate=0, throughput=10, agents=0)
        s = suggest("vip", BacklogBelow(0, NOW + timedelta(hours=1)), inputs, NOW, WARN)
        assert s.summary == (
            "Add 1 agent to queue vip for the next 1 hour to bring backlog under 0 by 09:00 "
            "— projected 0 vs 10"
        )

    def test_pods_are_workers(self) -> None:
        """A pod suggestion speaks of workers and never of rostering."""
        s = suggest("billing", BY_14, BILLING, NOW, WARN, resource="pods")
        assert s.summary.startswith("Add 3 workers to queue billing for the next 6 hours to")

    def test_deadline_on_another_day_shows_the_date(self) -> None:
        """A deadline tomorrow carries its date."""
        objective = BacklogBelow(500, NOW + timedelta(hours=20))
        s = suggest("billing", objective, BILLING, NOW, WARN)
        assert "by 2025-06-03 04:00" in s.summary

    def test_wait_objective(self) -> None:
        """W ≤ 5 h: the text and payload speak of the wait and the Little cap."""
        objective = WaitWithin(timedelta(hours=5), BY_14.by)
        s = suggest("billing", objective, BILLING, NOW, WARN, queue_name="Billing")
        assert s.desired == 16
        assert "to bring the average wait under 5 hours by 14:00" in s.summary
        assert s.to_payload("x")["objective"] == {
            "kind": "wait_within",
            "sla_seconds": 18000,
            "by": "2025-06-02T14:00:00Z",
            "backlog_cap": 450,
        }

    def test_oldest_age_objective(self) -> None:
        """Oldest within 8 h by +2 h: the projection is an age, written as a duration."""
        ages = AgeProfile.from_ages(h * 3600.0 for h in range(1, 11))
        inputs = FlowInputs(backlog=10, arrival_rate=2, throughput=1, agents=1)
        objective = OldestAgeWithin(timedelta(hours=8), NOW + timedelta(hours=2))
        s = suggest("billing", objective, inputs, NOW, WARN, ages=ages)
        assert s.summary == (
            "Add 1 agent to queue billing for the next 2 hours to bring the oldest ticket "
            "under 8 hours by 10:00 — projected 8 hours vs 10 hours"
        )
        assert s.to_payload("x")["objective"]["sla_seconds"] == 28800


class TestEvents:
    def test_envelope_and_types(self) -> None:
        """Events are {type, timestamp, data} with the reference's type names."""
        body = envelope(RECOMMENDATION, {"a": 1}, NOW + timedelta(seconds=5))
        assert body == {
            "type": "resourcing.recommendation",
            "timestamp": "2025-06-02T08:00:05Z",
            "data": {"a": 1},
        }
        assert CLEARED == "resourcing.recommendation.cleared"

    def test_cleared_payload(self) -> None:
        """A cleared event names the recommendation that lapsed and why."""
        data = cleared_payload("billing-20250602-0007", "billing", "human_agents", "expired")
        assert data == {
            "recommendation_id": "billing-20250602-0007",
            "queue": "billing",
            "resource": "human_agents",
            "reason": "expired",
        }

    def test_recommendation_id(self) -> None:
        """Ids are queue, UTC day and a four-digit sequence."""
        assert recommendation_id("billing", NOW, 7) == "billing-20250602-0007"

    @pytest.mark.parametrize(
        ("span", "text"),
        [
            (timedelta(hours=6), "6 hours"),
            (timedelta(hours=1), "1 hour"),
            (timedelta(minutes=90), "1 hour 30 minutes"),
            (timedelta(minutes=1), "1 minute"),
            (timedelta(0), "0 minutes"),
        ],
    )
    def test_format_span(self, span: timedelta, text: str) -> None:
        """Durations read naturally."""
        assert format_span(span) == text


class TestScalingDocument:
    def test_reference_document(self) -> None:
        """The Billing numbers give the reference's §4.2 document exactly."""
        raw = plan(BY_14, BILLING, NOW).needed_raw
        doc = scaling_document(
            "billing",
            NOW,
            backlog=670,
            oldest_age_seconds=25200,
            arrival_rate_per_hour=90.0,
            throughput_per_hour=96.0,
            status=WARN,
            workers_raw=raw,
            current=12,
        )
        assert doc == {
            "queue": "billing",
            "generated_at": "2025-06-02T08:00:00Z",
            "stale": False,
            "backlog": 670,
            "oldest_age_seconds": 25200,
            "arrival_rate_per_hour": 90.0,
            "throughput_per_hour": 96.0,
            "time_lag_seconds": 25125,
            "drain_time_seconds": 402000,
            "status": "WARN",
            "desired": {"workers": 15, "workers_raw": 14.79, "current": 12},
        }

    def test_infinite_drain_is_null(self) -> None:
        """When arrivals outpace capacity the drain time is null, not Infinity."""
        doc = scaling_document(
            "billing",
            NOW,
            backlog=10,
            oldest_age_seconds=None,
            arrival_rate_per_hour=100,
            throughput_per_hour=50,
            status=WARN,
            workers_raw=3,
            current=None,
        )
        assert doc["drain_time_seconds"] is None
        assert doc["oldest_age_seconds"] is None
        assert json.loads(json.dumps(doc, allow_nan=False)) == doc

    def test_pod_example(self) -> None:
        """2 s per ticket, 60 s latency: 30 per worker, so a backlog of 900 needs 30 pods."""
        assert math.ceil(pod_workers_raw(900, 60 / 2, 0, 1800)) == 30

    def test_aws_sqs_example(self) -> None:
        """1500 messages, target 100 per instance (10 s / 0.1 s): 15 instances."""
        raw = pod_workers_raw(1500, 10 / 0.1, arrival_rate=0, throughput_per_pod=36000)
        doc = scaling_document(
            "sqs",
            NOW,
            backlog=1500,
            oldest_age_seconds=None,
            arrival_rate_per_hour=0,
            throughput_per_hour=360000,
            status=QueueStatus.OK,
            workers_raw=raw,
            current=10,
        )
        assert doc["desired"]["workers"] == 15
        assert 1500 / 10 == 150  # the current value per instance, 50% over target

    def test_rate_drives_when_backlog_is_small(self) -> None:
        """Scale on backlog and on arrival rate: 10 tickets but 900/h at 60/h per pod is 15."""
        assert pod_workers_raw(10, 30, 900, 60) == 15

    def test_invalid_pod_targets(self) -> None:
        """A zero backlog per worker is rejected."""
        with pytest.raises(ValueError):
            pod_workers_raw(10, 0, 1, 1)

    @pytest.mark.parametrize(
        ("last", "expected"),
        [(NOW - timedelta(minutes=1), False), (NOW - timedelta(minutes=10), True), (None, True)],
    )
    def test_stale(self, last: datetime | None, expected: bool) -> None:
        """Data older than the allowed age (or none at all) is stale: serve 503."""
        assert is_stale(last, NOW, timedelta(minutes=5)) is expected
