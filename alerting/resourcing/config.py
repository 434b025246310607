"""Configuration of resourcing suggestions, one entry per group of queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.rules.common import selects_total
from config.durations import Duration


class ResourcingConfig(BaseModel):
    """Which queues get staffing suggestions, toward which objective, with which inputs.

    ``agents`` and ``throughput_per_agent_hour`` (μ) are configured: the generic stores
    do not say who works a queue. λ is measured over ``rate_window`` (created per hour).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    match: dict[str, str] = Field(default_factory=dict, description="source and/or queue")
    resource: Literal["humans", "pods"] = "humans"
    objective: Literal["backlog_below", "wait_within"] = "backlog_below"
    target: float | None = Field(None, ge=0, description="backlog_below: the backlog cap")
    wait: Duration | None = Field(None, description="wait_within: the average wait allowed")
    within: Duration = Field(timedelta(hours=6), description="the objective's deadline")
    agents: int = Field(ge=0, description="productive agents (or workers) on the queue now")
    throughput_per_agent_hour: float = Field(gt=0, description="μ: solves per agent-hour")
    shrinkage: float = Field(0.0, ge=0, lt=1)
    backlog_per_worker: float | None = Field(None, gt=0, description="pods: backlog per pod")
    rate_window: Duration = timedelta(hours=1)
    arrivals: Literal["forecast", "measured"] = Field(
        "forecast",
        description="λ: the arrivals forecast over [now, now + within) when a fresh one "
        "exists (else the rate measured over rate_window), or always the measured rate",
    )
    stale_after: Duration = Field(
        timedelta(minutes=15), description="older data makes the KEDA endpoint answer 503"
    )
    receivers: tuple[str, ...] | None = Field(
        None, description="webhook receivers of recommendation events (all webhooks if omitted)"
    )

    @model_validator(mode="after")
    def _objective_has_its_value(self) -> ResourcingConfig:
        if self.objective == "backlog_below" and self.target is None:
            raise ValueError("objective backlog_below needs target (the backlog cap)")
        if self.objective == "wait_within" and self.wait is None:
            raise ValueError("objective wait_within needs wait (e.g. 4h)")
        if self.resource == "pods" and self.backlog_per_worker is None:
            raise ValueError("resource pods needs backlog_per_worker")
        return self

    def selects(self, source: str, queue: str) -> bool:
        """Whether this entry plans the queue (a source's total only when matched by name)."""
        wanted = {"source": source, "queue": queue}
        matched = all(wanted.get(k) == v for k, v in self.match.items())
        return matched and selects_total(self.match, queue)
