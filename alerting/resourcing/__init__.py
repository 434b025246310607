"""Resourcing: staffing maths, queue status, anti-flap and suggestions (pure, no I/O).

- :mod:`.flow` — backlog-flow staffing for tickets (projection, N, shrinkage, lags).
- :mod:`.rates` — λ from the forecast or measurement, μ measured or configured, EWMA.
- :mod:`.erlang` — Erlang C for real-time channels.
- :mod:`.status` — Burrow-style OK/WARN/STALL/STOP.
- :mod:`.stabilise` — the anti-flap stabiliser and its per-resource defaults.
- :mod:`.suggestion` — the :class:`Suggestion`, webhook payloads and the KEDA document.
"""

from alerting.resourcing.flow import (
    AgeProfile,
    BacklogBelow,
    FlowInputs,
    Objective,
    OldestAgeWithin,
    Plan,
    WaitWithin,
    plan,
    project,
)
from alerting.resourcing.rates import arrival_rate, ewma, throughput_per_agent_hour
from alerting.resourcing.stabilise import DEFAULTS, Change, Policy, Stabiliser, StabiliserState
from alerting.resourcing.status import QueueStatus, Sample, evaluate
from alerting.resourcing.suggestion import (
    CLEARED,
    RECOMMENDATION,
    Suggestion,
    cleared_payload,
    envelope,
    is_stale,
    pod_workers_raw,
    recommendation_id,
    scaling_document,
    suggest,
)

__all__ = [
    "CLEARED",
    "DEFAULTS",
    "RECOMMENDATION",
    "AgeProfile",
    "BacklogBelow",
    "Change",
    "FlowInputs",
    "Objective",
    "OldestAgeWithin",
    "Plan",
    "Policy",
    "QueueStatus",
    "Sample",
    "Stabiliser",
    "StabiliserState",
    "Suggestion",
    "WaitWithin",
    "arrival_rate",
    "cleared_payload",
    "envelope",
    "evaluate",
    "ewma",
    "is_stale",
    "plan",
    "pod_workers_raw",
    "project",
    "recommendation_id",
    "scaling_document",
    "suggest",
    "throughput_per_agent_hour",
]
