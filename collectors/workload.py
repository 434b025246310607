"""Agent workload, stale and waiting tickets, routing quality and top categories (figures).

What a source's ``workload`` section asks for (:class:`WorkloadConfig`), what a poll gives
per queue (:class:`QueueWorkload`), and the pure steps applied to the database's
aggregates: the load spread of a queue, the bounding of agent labels (every agent up to
``agents.max_agents``, beyond that the busiest ``agents.top`` plus ``other``) and the top
categories with ``other``. The aggregates themselves are computed by the database
(``collectors.sqlworkload``); ticket rows never travel, except the bounded lists of the
oldest stale and waiting tickets the tiered rule names.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from config.durations import Duration

OTHER = "other"
"""The label of everything beyond a bound (agents past the top-k, categories past N)."""

AgeFrom = Literal["status_history", "last_update"]


class AgentLabels(BaseModel):
    """How agents become label values (series cost: one per agent and queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_agents: int = Field(50, ge=1, description="label every agent while there are this few")
    top: int = Field(20, ge=1, description="beyond max_agents: the busiest top, then 'other'")
    ids: Literal["plain", "hashed"] = Field(
        "plain", description="hashed: a stable 10-hex-digit digest instead of the id"
    )


class WorkloadConfig(BaseModel):
    """A source's workload and hygiene figures (``sources[].workload``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stale_after: tuple[Duration, ...] = Field(
        (), description="count open tickets with no update for longer than each age"
    )
    waiting_statuses: tuple[str, ...] = Field(
        (), description="open statuses that wait on someone else (customer, vendor, ...)"
    )
    top_categories: int | None = Field(None, ge=1, description="N of the top-N categories")
    listed_tickets: int = Field(
        10, ge=1, le=100, description="oldest stale and waiting tickets kept per queue"
    )
    agents: AgentLabels = AgentLabels()
    ticket_url: str | None = Field(
        None,
        pattern=r"\{id\}",
        description="link of a ticket, {id} replaced by its id (https://desk/ticket/{id})",
    )

    def link(self, ticket: str) -> str | None:
        return None if self.ticket_url is None else self.ticket_url.replace("{id}", ticket)


@dataclass(frozen=True)
class AgentLoad:
    """One agent's (or the ``other`` bucket's) open tickets in one queue."""

    agent: str
    open: int
    oldest_age_s: float | None


@dataclass(frozen=True)
class ListedTicket:
    """A ticket named in a stale or waiting notification."""

    id: str
    status: str
    assignee: str | None
    age_s: float
    """Time without update (stale) or in the waiting status."""
    url: str | None = None
    """The ticket's page (``workload.ticket_url``), when configured."""


@dataclass(frozen=True)
class Waiting:
    """Open tickets of one waiting status in one queue."""

    status: str
    count: int
    oldest_age_s: float | None
    age_from: AgeFrom
    """``status_history``: since the ticket entered the status; ``last_update``: since its
    last update (the store keeps no status history)."""


@dataclass(frozen=True)
class Routing:
    """Routing quality of the tickets resolved in the window; None where not recorded."""

    resolved: int
    reassignments: int | None = None
    reopened: int | None = None
    misrouted: int | None = None
    assigned: int | None = None
    """Resolved tickets whose first assignment the store records (time to first
    assignment); None where the store does not record when a ticket was first assigned."""
    first_assignment_s: float | None = None
    """Their time from creation to the first assignment, summed, in seconds (summable
    over queues and polls, like the counts)."""

    def _per(self, count: int | None) -> float | None:
        return None if count is None or self.resolved == 0 else count / self.resolved

    @property
    def first_assignment_mean_s(self) -> float | None:
        """Mean time to first assignment of the resolved tickets that record it."""
        if self.first_assignment_s is None or not self.assigned:
            return None
        return self.first_assignment_s / self.assigned

    @property
    def reassignments_per_resolved(self) -> float | None:
        return self._per(self.reassignments)

    @property
    def reopen_rate(self) -> float | None:
        return self._per(self.reopened)

    @property
    def misroute_rate(self) -> float | None:
        return self._per(self.misrouted)


@dataclass(frozen=True)
class QueueWorkload:
    """One queue's workload and hygiene figures; a figure not asked for or not recorded
    is None (absent, never 0)."""

    agents: tuple[AgentLoad, ...] | None = None
    agents_with_work: int | None = None
    load_max: int | None = None
    load_median: float | None = None
    busiest_share: float | None = None
    """Share of the assigned open tickets held by the busiest 10 % of agents with work."""
    stale: Mapping[str, int] | None = None
    oldest_update_age_s: float | None = None
    stale_tickets: tuple[ListedTicket, ...] = ()
    waiting: tuple[Waiting, ...] | None = None
    waiting_tickets: tuple[ListedTicket, ...] = ()
    routing: Routing | None = None
    categories_open: Mapping[str, int] | None = None
    categories_created: Mapping[str, int] | None = None


def age_label(age: timedelta) -> str:
    """``3d``, ``12h``, ``90m``: how an age names its stale bucket."""
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def spread(loads: Iterable[int]) -> tuple[int | None, float | None, float | None]:
    """``(max, median, busiest share)`` of the agents' open tickets (None without agents).

    The busiest 10 % are the ``ceil(n / 10)`` agents with most tickets.
    """
    ordered = sorted(loads, reverse=True)
    if not ordered:
        return None, None, None
    top = ordered[: math.ceil(len(ordered) / 10)]
    total = sum(ordered)
    return ordered[0], float(statistics.median(ordered)), sum(top) / total if total else None


def agent_label(agent: str, ids: Literal["plain", "hashed"]) -> str:
    """An agent's label value: the id, or a stable digest of it."""
    if ids == "plain":
        return agent
    return "a" + hashlib.sha256(agent.encode()).hexdigest()[:10]


def bound_agents(
    loads: Mapping[str, Mapping[str, tuple[int, float | None]]], labels: AgentLabels
) -> dict[str, tuple[AgentLoad, ...]]:
    """Per queue, the agents' loads with bounded labels.

    Args:
        loads: queue -> agent id -> (open tickets, oldest open age in seconds).
        labels: the bound: every agent of the source while there are at most
            ``max_agents``; otherwise the ``top`` agents by open tickets over the whole
            source keep their label and the others of each queue become one ``other``.
    """
    totals: dict[str, int] = {}
    for per_agent in loads.values():
        for agent, (n, _) in per_agent.items():
            totals[agent] = totals.get(agent, 0) + n
    every = len(totals) <= labels.max_agents
    kept: Iterable[str] = totals
    if not every:  # the busiest top, ties by id: one pass with a bounded heap
        kept = (a for a, _ in heapq.nsmallest(labels.top, totals.items(), key=_busiest))
    label = {a: agent_label(a, labels.ids) for a in kept}  # once per agent, not per row
    out: dict[str, tuple[AgentLoad, ...]] = {}
    for queue, per_agent in loads.items():
        ordered = sorted(per_agent.items())
        if every:
            out[queue] = tuple([AgentLoad(label[a], n, age) for a, (n, age) in ordered])
            continue
        named = [AgentLoad(label[a], n, age) for a, (n, age) in ordered if a in label]
        rest = [(n, age) for a, (n, age) in ordered if a not in label]
        if rest:
            ages = [age for _, age in rest if age is not None]
            named.append(AgentLoad(OTHER, sum(n for n, _ in rest), max(ages) if ages else None))
        out[queue] = tuple(named)
    return out


def _busiest(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def top_categories(counts: Mapping[str, int], n: int) -> dict[str, int]:
    """The ``n`` largest counts (ties by name), the rest summed as ``other``."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ordered[:n])
    rest = sum(c for _, c in ordered[n:])
    if rest:
        out[OTHER] = out.get(OTHER, 0) + rest
    return out


def workload_problem(config: WorkloadConfig, mapping: Any) -> str | None:
    """Why ``config`` cannot be computed on ``mapping`` (a ``SqlMapping``), or None."""
    problems = []
    if config.stale_after and mapping.updated_at is None:
        problems.append("stale_after needs mapping.updated_at (when each ticket last changed)")
    if config.top_categories is not None and mapping.category is None:
        problems.append("top_categories needs mapping.category (the category field)")
    if config.waiting_statuses:
        has_history = mapping.history is not None and mapping.history.status is not None
        if mapping.updated_at is None and not has_history:
            problems.append("waiting_statuses needs mapping.updated_at or a history with status")
        if mapping.open_statuses is not None:
            known = {str(s) for s in mapping.open_statuses}
            unknown = [s for s in config.waiting_statuses if s not in known]
            if unknown:
                problems.append(
                    f"waiting_statuses: {', '.join(map(repr, unknown))} is not one of the open"
                    f" statuses ({', '.join(sorted(known))})"
                )
    return "; ".join(problems) or None


def workload_fallbacks(mapping: Any) -> list[Any]:
    """The mappings a poll tries in turn when a workload statement is rejected (a history
    table missing or not readable): as configured, without the history, then also without
    the first assignment (a history table of its own: GLPI's ``glpi_logs``, osTicket's
    thread events), then also without the other fields that may read other tables
    (categories, counters). Each step leaves the figures it drops absent; waiting ages
    then come from the last update, labelled so."""
    bare = mapping.model_copy(update={"history": None})
    unassigned = bare.model_copy(update={"first_assigned_at": None})
    fields = {"category": None, "reassignments": None, "reopens": None}
    return [mapping, bare, unassigned, unassigned.model_copy(update=fields)]
