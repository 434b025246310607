"""Backlog-flow staffing: how many agents bring a ticket backlog to an objective in time.

Tickets are deferred work, so the model is a fluid one, not Erlang C (see
``docs/resourcing.md``). With ``B0`` the backlog waiting on an agent, ``λ`` arrivals
per hour, ``μ`` solves per productive agent-hour and ``T`` hours::

    B(T)      = max(0, B0 + (λ - Nμ)·T)
    N_needed  = ceil((B0 - B_target + λT) / (μT));   rostered = ceil(N / (1 - s))
    time_lag  = B / (Nμ);   drain_time = B / (Nμ - λ)   (∞ when Nμ ≤ λ)

Every function is pure; ``now`` is always an argument.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

EPS = 1e-9
"""Float slack for ceilings: 15.000000000001 agents is 15, not 16."""


def ceil_tolerant(value: float) -> int:
    """``math.ceil`` that ignores float noise just above an integer."""
    return math.ceil(value - EPS)


@dataclass(frozen=True)
class FlowInputs:
    """What the flow model needs about one queue at ``now``.

    Attributes:
        backlog: tickets waiting on an agent (pending-on-customer excluded).
        arrival_rate: λ, arrivals per hour (forecast when there is one, else measured).
        throughput: μ, solves per productive agent-hour (measured or configured).
        agents: productive agents on the queue now.
        shrinkage: share of rostered time not spent on the queue (breaks, meetings).
    """

    backlog: float
    arrival_rate: float
    throughput: float
    agents: int
    shrinkage: float = 0.0

    def __post_init__(self) -> None:
        if self.backlog < 0 or self.arrival_rate < 0 or self.agents < 0:
            raise ValueError("backlog, arrival_rate and agents must not be negative")
        if self.throughput <= 0:
            raise ValueError("throughput (solves per agent-hour) must be positive")
        if not 0 <= self.shrinkage < 1:
            raise ValueError("shrinkage must be in [0, 1)")

    @property
    def capacity(self) -> float:
        """Solves per hour of the agents on the queue now (Nμ)."""
        return self.agents * self.throughput


def project_backlog(backlog: float, arrival_rate: float, capacity: float, hours: float) -> float:
    """The backlog after ``hours`` at a constant solving ``capacity`` per hour: B(T)."""
    return max(0.0, backlog + (arrival_rate - capacity) * hours)


def time_lag_hours(backlog: float, capacity: float) -> float:
    """FIFO wait for a ticket arriving now, B/(Nμ); ∞ with no capacity."""
    if backlog <= 0:
        return 0.0
    return backlog / capacity if capacity > 0 else math.inf


def drain_time_hours(backlog: float, arrival_rate: float, capacity: float) -> float:
    """Hours to empty the backlog, B/(Nμ - λ); ∞ when arrivals keep up with capacity."""
    if backlog <= 0:
        return 0.0
    surplus = capacity - arrival_rate
    return backlog / surplus if surplus > 0 else math.inf


def agents_needed_raw(
    backlog: float, target: float, arrival_rate: float, throughput: float, hours: float
) -> float:
    """Fractional agents to reach ``target`` in ``hours``: (B0 - B_target + λT)/(μT), ≥ 0."""
    if hours <= 0:
        raise ValueError("the objective must lie in the future")
    return max(0.0, (backlog - target + arrival_rate * hours) / (throughput * hours))


def agents_needed(
    backlog: float, target: float, arrival_rate: float, throughput: float, hours: float
) -> int:
    """Whole agents to reach ``target`` in ``hours`` (the ceiling of the raw value)."""
    return ceil_tolerant(agents_needed_raw(backlog, target, arrival_rate, throughput, hours))


def rostered(agents: float, shrinkage: float) -> int:
    """Rostered headcount that yields ``agents`` productive ones: ceil(N/(1 - s))."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return ceil_tolerant(agents / (1 - shrinkage))


def little_backlog_cap(arrival_rate: float, wait: timedelta) -> float:
    """Little's law L = λW: the backlog whose average wait is ``wait`` at ``arrival_rate``."""
    return arrival_rate * wait.total_seconds() / 3600


@dataclass(frozen=True)
class AgeProfile:
    """Ages (seconds) of the tickets in the backlog, oldest first.

    Built from every ticket's age when the store gives them, or approximated from
    age quantiles; FIFO service clears the oldest first.
    """

    ages: tuple[float, ...]

    @classmethod
    def from_ages(cls, ages: Iterable[float]) -> AgeProfile:
        """A profile from each ticket's age in seconds."""
        return cls(tuple(sorted((float(a) for a in ages), reverse=True)))

    @classmethod
    def from_quantiles(
        cls, backlog: int, quantiles: Mapping[float, float], oldest: float
    ) -> AgeProfile:
        """Spread ``backlog`` tickets over the age quantile function (linear between points).

        Args:
            backlog: number of tickets.
            quantiles: ``{0.5: median_age_s, 0.9: p90_age_s, ...}``.
            oldest: the oldest ticket's age in seconds (the 1.0 quantile).
        """
        points = sorted({0.0: 0.0, **dict(quantiles), 1.0: oldest}.items())
        probs = [p for p, _ in points]

        def quantile(p: float) -> float:
            i = max(1, bisect.bisect_left(probs, p))
            (p0, a0), (p1, a1) = points[i - 1], points[i]
            return a0 if p1 == p0 else a0 + (a1 - a0) * (p - p0) / (p1 - p0)

        return cls.from_ages(quantile(1 - (i + 0.5) / backlog) for i in range(backlog))

    def older_than(self, age: float) -> int:
        """How many tickets are strictly older than ``age`` seconds."""
        ascending = self.ages[::-1]
        return len(ascending) - bisect.bisect_right(ascending, age)

    def age_after_clearing(self, cleared: float) -> float | None:
        """Age of the oldest ticket left once the ``cleared`` oldest are solved (None if none)."""
        index = max(0, math.floor(cleared + EPS))
        return self.ages[index] if index < len(self.ages) else None


@dataclass(frozen=True)
class BacklogBelow:
    """Backlog at most ``value`` tickets by ``by``."""

    value: float
    by: datetime
    kind: Literal["backlog_below"] = "backlog_below"


@dataclass(frozen=True)
class OldestAgeWithin:
    """Oldest ticket at most ``sla`` old by ``by`` (FIFO: older tickets must be cleared)."""

    sla: timedelta
    by: datetime
    kind: Literal["oldest_age_within"] = "oldest_age_within"


@dataclass(frozen=True)
class WaitWithin:
    """Average wait at most ``sla`` by ``by``, turned into a backlog cap by Little's law."""

    sla: timedelta
    by: datetime
    kind: Literal["wait_within"] = "wait_within"


Objective = BacklogBelow | OldestAgeWithin | WaitWithin


@dataclass(frozen=True)
class Plan:
    """The staffing that meets an objective, and what happens with and without it.

    Attributes:
        hours: T, from ``now`` to the objective's deadline.
        needed_raw: fractional agents (the KEDA document's ``workers_raw``), at least
            λ/μ so that the backlog does not grow again after the deadline.
        needed: whole productive agents on the queue.
        rostered_now / rostered_needed: headcount including shrinkage.
        without_change / with_change: the objective's measure at the deadline (tickets
            for backlog_below, seconds for oldest_age_within and wait_within).
        target: the objective's bound in the same unit.
    """

    hours: float
    needed_raw: float
    needed: int
    rostered_now: int
    rostered_needed: int
    without_change: float
    with_change: float
    target: float


def plan(
    objective: Objective, inputs: FlowInputs, now: datetime, ages: AgeProfile | None = None
) -> Plan:
    """Staff ``inputs``' queue to meet ``objective``; ``ages`` is needed for oldest_age_within."""
    hours = _hours_until(objective, now)
    # Never fewer than keep pace with arrivals (λ/μ): a goal met at the deadline by
    # letting the backlog grow again right after is no plan.
    raw = max(_needed_raw(objective, inputs, hours, ages), inputs.arrival_rate / inputs.throughput)
    needed = ceil_tolerant(raw)
    return Plan(
        hours=hours,
        needed_raw=raw,
        needed=needed,
        rostered_now=rostered(inputs.agents, inputs.shrinkage),
        rostered_needed=rostered(needed, inputs.shrinkage),
        without_change=project(objective, inputs, inputs.agents, now, ages),
        with_change=project(objective, inputs, needed, now, ages),
        target=target_of(objective),
    )


def project(
    objective: Objective,
    inputs: FlowInputs,
    agents: int,
    now: datetime,
    ages: AgeProfile | None = None,
) -> float:
    """The objective's measure at its deadline with ``agents`` on the queue.

    Tickets for backlog_below; seconds (oldest age, average wait) for the others.
    """
    hours = _hours_until(objective, now)
    capacity = agents * inputs.throughput
    if isinstance(objective, OldestAgeWithin):
        return oldest_age_at(_need_ages(ages), inputs.arrival_rate, capacity, hours)
    backlog = project_backlog(inputs.backlog, inputs.arrival_rate, capacity, hours)
    if isinstance(objective, WaitWithin):  # Little: W = L/λ
        return _wait_seconds(backlog, inputs.arrival_rate)
    return backlog


def target_of(objective: Objective) -> float:
    """The objective's bound in the unit :func:`project` reports."""
    if isinstance(objective, BacklogBelow):
        return objective.value
    return objective.sla.total_seconds()


def _hours_until(objective: Objective, now: datetime) -> float:
    hours = (objective.by - now).total_seconds() / 3600
    if hours <= 0:
        raise ValueError(f"objective deadline {objective.by.isoformat()} is not after now")
    return hours


def _need_ages(ages: AgeProfile | None) -> AgeProfile:
    if ages is None:
        raise ValueError("oldest_age_within needs the backlog's age profile")
    return ages


def _needed_raw(
    objective: Objective, inputs: FlowInputs, hours: float, ages: AgeProfile | None
) -> float:
    if isinstance(objective, OldestAgeWithin):
        sla_h = objective.sla.total_seconds() / 3600
        # FIFO: everything created before (by - sla) must be solved by ``by``: the
        # backlog older than sla - T now, plus the arrivals of the first T - sla hours.
        older = _need_ages(ages).older_than((sla_h - hours) * 3600)
        must_clear = older + inputs.arrival_rate * max(0.0, hours - sla_h)
        return must_clear / (inputs.throughput * hours)
    if isinstance(objective, WaitWithin):
        cap = little_backlog_cap(inputs.arrival_rate, objective.sla)
    else:
        cap = objective.value
    return agents_needed_raw(inputs.backlog, cap, inputs.arrival_rate, inputs.throughput, hours)


def _wait_seconds(backlog: float, arrival_rate: float) -> float:
    if backlog <= 0:
        return 0.0
    return backlog / arrival_rate * 3600 if arrival_rate > 0 else math.inf


def oldest_age_at(ages: AgeProfile, arrival_rate: float, capacity: float, hours: float) -> float:
    """Oldest ticket's age (seconds) after ``hours`` of FIFO service at ``capacity``/hour."""
    cleared = capacity * hours
    left = ages.age_after_clearing(cleared)
    if left is not None:
        return left + hours * 3600
    if arrival_rate <= 0:
        return 0.0
    into_arrivals = (cleared - len(ages.ages)) / arrival_rate  # hours of arrivals solved
    return max(0.0, hours - into_arrivals) * 3600
