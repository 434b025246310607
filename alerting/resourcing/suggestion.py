"""Staffing suggestions: the words a supervisor reads and the payloads machines read.

:func:`suggest` turns a queue's flow inputs and an objective into a frozen
:class:`Suggestion`; ``.summary`` is the human text, :meth:`Suggestion.to_payload` the
``data`` of a ``resourcing.recommendation`` webhook, and :func:`scaling_document` the
JSON the KEDA ``metrics-api`` scaler polls. Nothing here reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from alerting.resourcing.flow import (
    AgeProfile,
    BacklogBelow,
    FlowInputs,
    Objective,
    OldestAgeWithin,
    WaitWithin,
    ceil_tolerant,
    drain_time_hours,
    little_backlog_cap,
    plan,
    project,
    rostered,
    time_lag_hours,
)
from alerting.resourcing.status import QueueStatus

Resource = Literal["human_agents", "pods"]
RECOMMENDATION = "resourcing.recommendation"
CLEARED = "resourcing.recommendation.cleared"
NOUNS: dict[str, tuple[str, str]] = {
    "human_agents": ("agent", "agents"),
    "pods": ("worker", "workers"),
}


@dataclass(frozen=True)
class Suggestion:
    """A staffing recommendation for one queue over one window.

    Attributes:
        queue: the queue's id (``billing``); ``queue_name`` is its display name.
        resource: what to add or remove.
        objective: the goal the staffing meets.
        current / desired: productive capacity on the queue now and recommended.
        window_start / window_end: from now to the objective's deadline.
        without_change / with_change: projected measure at the deadline (tickets, or
            seconds for age and wait objectives).
        status: the queue's Burrow-style status.
        inputs: what the projection used.
        needed_raw: the unrounded staffing the objective asks for.
    """

    queue: str
    resource: Resource
    objective: Objective
    current: int
    desired: int
    window_start: datetime
    window_end: datetime
    without_change: float
    with_change: float
    status: QueueStatus
    inputs: FlowInputs
    needed_raw: float
    queue_name: str = ""

    @property
    def delta(self) -> int:
        """Agents (or workers) to add; negative to release."""
        return self.desired - self.current

    @property
    def rostered_delta(self) -> int:
        """Headcount change including shrinkage: ceil(desired/(1-s)) - ceil(current/(1-s))."""
        s = self.inputs.shrinkage
        return rostered(self.desired, s) - rostered(self.current, s)

    @property
    def action(self) -> Literal["scale_up", "scale_down", "hold"]:
        if self.delta > 0:
            return "scale_up"
        return "scale_down" if self.delta < 0 else "hold"

    @property
    def summary(self) -> str:
        """One sentence for a supervisor, e.g. "Add 3 agents to queue Billing for ..."."""
        name = self.queue_name or self.queue
        span = format_span(self.window_end - self.window_start)
        goal = _goal(self.objective, self.window_start, self.inputs)
        proj = (
            f"projected {self._measure(self.with_change)} vs {self._measure(self.without_change)}"
        )
        n = abs(self.delta)
        noun = NOUNS[self.resource][0 if n == 1 else 1]
        rost = ""
        if self.resource == "human_agents" and self.rostered_delta != self.delta:
            rost = f" ({abs(self.rostered_delta)} rostered)"
        if self.delta > 0:
            return (
                f"Add {n} {noun} to queue {name} for the next {span}{rost} to bring {goal} — {proj}"
            )
        if self.delta < 0:
            return (
                f"Release {n} {noun} from queue {name} for the next {span}{rost}: "
                f"{goal} is still met — {proj}"
            )
        noun = NOUNS[self.resource][0 if self.current == 1 else 1]
        return f"Keep {self.current} {noun} on queue {name}: {goal} is on track — {proj}"

    def _measure(self, value: float) -> str:
        if isinstance(self.objective, BacklogBelow):
            return f"{value:.0f}"
        return "never" if math.isinf(value) else format_span(timedelta(seconds=value))

    def to_payload(
        self,
        recommendation_id: str,
        supersedes: str | None = None,
        expires_after: timedelta = timedelta(hours=1),
    ) -> dict[str, Any]:
        """The ``data`` of a ``resourcing.recommendation`` webhook (reference §4.3)."""
        return {
            "recommendation_id": recommendation_id,
            "supersedes": supersedes,
            "queue": self.queue,
            "resource": self.resource,
            "action": self.action,
            "current_capacity": self.current,
            "desired_capacity": self.desired,
            "delta": self.delta,
            "rostered_delta": self.rostered_delta,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "objective": objective_payload(self.objective, self.inputs),
            "projection": {
                "without_change": _number(self.without_change),
                "with_change": _number(self.with_change),
            },
            "inputs": {
                "backlog": _number(self.inputs.backlog),
                "arrival_rate_per_hour": _number(self.inputs.arrival_rate),
                "throughput_per_agent_hour": _number(self.inputs.throughput),
                "shrinkage": self.inputs.shrinkage,
            },
            "status": str(self.status),
            "expires_at": iso(self.window_start + expires_after),
            "summary": self.summary,
        }


def suggest(
    queue: str,
    objective: Objective,
    inputs: FlowInputs,
    now: datetime,
    status: QueueStatus,
    *,
    desired: int | None = None,
    ages: AgeProfile | None = None,
    resource: Resource = "human_agents",
    queue_name: str = "",
) -> Suggestion:
    """Build the suggestion that meets ``objective`` from ``now``.

    Args:
        desired: the stabilised value to recommend; the raw staffing when omitted.
        ages: the backlog's age profile (needed for :class:`OldestAgeWithin`).
    """
    staffing = plan(objective, inputs, now, ages)
    wanted = staffing.needed if desired is None else desired
    return Suggestion(
        queue=queue,
        resource=resource,
        objective=objective,
        current=inputs.agents,
        desired=wanted,
        window_start=now,
        window_end=objective.by,
        without_change=staffing.without_change,
        with_change=project(objective, inputs, wanted, now, ages),
        status=status,
        inputs=inputs,
        needed_raw=staffing.needed_raw,
        queue_name=queue_name,
    )


def objective_payload(objective: Objective, inputs: FlowInputs) -> dict[str, Any]:
    """The ``objective`` object of the webhook payload."""
    if isinstance(objective, BacklogBelow):
        return {"kind": objective.kind, "value": _number(objective.value), "by": iso(objective.by)}
    body: dict[str, Any] = {
        "kind": objective.kind,
        "sla_seconds": _number(objective.sla.total_seconds()),
        "by": iso(objective.by),
    }
    if isinstance(objective, WaitWithin):
        body["backlog_cap"] = _number(round(little_backlog_cap(inputs.arrival_rate, objective.sla)))
    return body


def cleared_payload(
    recommendation_id: str, queue: str, resource: Resource, reason: str
) -> dict[str, Any]:
    """The ``data`` of a ``resourcing.recommendation.cleared`` webhook."""
    return {
        "recommendation_id": recommendation_id,
        "queue": queue,
        "resource": resource,
        "reason": reason,
    }


def envelope(event_type: str, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The Standard Webhooks body ``{"type", "timestamp", "data"}`` (signing is the outbox's)."""
    return {"type": event_type, "timestamp": iso(now), "data": dict(data)}


def recommendation_id(queue: str, now: datetime, sequence: int) -> str:
    """A stable id such as ``billing-20250602-0007`` (idempotency key of the delivery)."""
    return f"{queue}-{now.astimezone(UTC):%Y%m%d}-{sequence:04d}"


def pod_workers_raw(
    backlog: float, backlog_per_worker: float, arrival_rate: float, throughput_per_pod: float
) -> float:
    """Pods needed: max(B / backlog_per_worker, λ / μ_pod), scaling on backlog and rate."""
    if backlog_per_worker <= 0 or throughput_per_pod <= 0:
        raise ValueError("backlog_per_worker and throughput_per_pod must be positive")
    return max(backlog / backlog_per_worker, arrival_rate / throughput_per_pod)


def scaling_document(
    queue: str,
    now: datetime,
    *,
    backlog: float,
    oldest_age_seconds: float | None,
    arrival_rate_per_hour: float,
    throughput_per_hour: float,
    status: QueueStatus,
    workers_raw: float,
    current: int | None,
    stale: bool = False,
) -> dict[str, Any]:
    """The KEDA ``metrics-api`` document (reference §4.2); serve 503 instead when ``stale``.

    ``desired.workers`` is ``ceil(workers_raw)``: point KEDA at it with target 1, or at
    ``backlog`` with target = acceptable backlog per worker.
    """
    lag = time_lag_hours(backlog, throughput_per_hour)
    drain = drain_time_hours(backlog, arrival_rate_per_hour, throughput_per_hour)
    return {
        "queue": queue,
        "generated_at": iso(now),
        "stale": stale,
        "backlog": _number(backlog),
        "oldest_age_seconds": None if oldest_age_seconds is None else _number(oldest_age_seconds),
        "arrival_rate_per_hour": float(arrival_rate_per_hour),
        "throughput_per_hour": float(throughput_per_hour),
        "time_lag_seconds": _seconds(lag),
        "drain_time_seconds": _seconds(drain),
        "status": str(status),
        "desired": {
            "workers": ceil_tolerant(workers_raw),
            "workers_raw": round(workers_raw, 2),
            "current": current,
        },
    }


def is_stale(last_sample_at: datetime | None, now: datetime, max_age: timedelta) -> bool:
    """Whether the data behind the document is too old to scale on (serve 503)."""
    return last_sample_at is None or now - last_sample_at > max_age


def iso(ts: datetime) -> str:
    """UTC ISO 8601 with a ``Z``: ``2025-06-02T08:00:00Z``."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_span(span: timedelta) -> str:
    """Human duration: ``6 hours``, ``1 hour 30 minutes``, ``45 minutes``."""
    minutes = round(span.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if rest or not hours:
        parts.append(f"{rest} minute{'s' * (rest != 1)}")
    return " ".join(parts)


def _goal(objective: Objective, now: datetime, inputs: FlowInputs) -> str:
    by = f"{objective.by:%H:%M}"
    if objective.by.date() != now.date():
        by = f"{objective.by:%Y-%m-%d %H:%M}"
    if isinstance(objective, BacklogBelow):
        return f"backlog under {objective.value:g} by {by}"
    if isinstance(objective, OldestAgeWithin):
        return f"the oldest ticket under {format_span(objective.sla)} by {by}"
    return f"the average wait under {format_span(objective.sla)} by {by}"


def _seconds(hours: float) -> int | None:
    return None if math.isinf(hours) else round(hours * 3600)


def _number(value: float) -> int | float:
    """Integral values as JSON integers (670, not 670.0)."""
    if math.isfinite(value) and float(value).is_integer():
        return int(value)
    return round(value, 2) if math.isfinite(value) else value
