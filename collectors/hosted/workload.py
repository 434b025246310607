"""Workload figures of a hosted help desk: what a source asks for and how they are put
together, the same way for every store.

A hosted source opts in with a ``workload`` section (:class:`HostedWorkload`); without
it a poll sends no workload request. Each store reads what its API gives in as few
requests as it can (``collectors/servicenowworkload.py``, ``collectors/zendesk.py``,
``collectors/jira.py``, ``collectors/jirarouting.py`` and ``collectors/zohodesk.py`` say
which) and hands the raw
per-queue figures to :func:`queue_workloads`, which applies the same pure steps as the
SQL collector (``collectors.workload``: load spread, bounded agent labels, top
categories). A figure the store does not give stays None (absent, never 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collectors.workload import (
    AgentLabels,
    ListedTicket,
    QueueWorkload,
    Routing,
    Waiting,
    age_label,
    bound_agents,
    spread,
    top_categories,
)
from config.durations import Duration


class HostedWorkload(BaseModel):
    """A hosted source's workload figures (``sources[].workload``), each opt-in.

    Every figure asked for costs requests, counted in the source's poll cost (checked
    against the plan at start-up): see the store's table in docs/hosted.md.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    assignees: bool = Field(False, description="open tickets per agent and the load spread")
    stale_after: tuple[Duration, ...] = Field(
        (), description="count open tickets with no update for longer than each age"
    )
    waiting_statuses: tuple[str, ...] = Field(
        (), description="open statuses that wait on someone else, as the store names them"
    )
    routing: bool = Field(False, description="reassignments and reopens of resolved tickets")
    top_categories: int | None = Field(None, ge=1, description="N of the top-N categories")
    listed_tickets: int | None = Field(
        None,
        ge=1,
        le=100,
        description="oldest stale and waiting tickets listed per queue (Zendesk, Jira: no "
        "extra request; ServiceNow: the stale list, one request per group)",
    )
    ticket_url: str | None = Field(
        None, pattern=r"\{id\}", description="link of a ticket, {id} replaced by its id"
    )
    agents: AgentLabels = AgentLabels()

    @property
    def updates(self) -> bool:
        """Whether the figures need each ticket's last update (stale or waiting)."""
        return bool(self.stale_after or self.waiting_statuses)


@dataclass
class RawWorkload:
    """What a store read for one queue, before the shared steps.

    ``None`` everywhere means not read (not asked for, or the store does not give it).
    """

    agents: dict[str, tuple[int, datetime | None]] | None = None
    """agent -> (open tickets, oldest open ticket's creation)."""
    stale: dict[str, int] | None = None
    """stale label (``3d``) -> open tickets not updated since."""
    oldest_update: datetime | None = None
    waiting: dict[str, tuple[int, datetime | None]] | None = None
    """waiting status -> (open tickets in it, least recent update among them)."""
    resolved: int | None = None
    reassignments: int | None = None
    reopened: int | None = None
    misrouted: int | None = None
    assigned: int | None = None
    """Resolved tickets with a recorded first assignment (None: not recorded)."""
    first_assignment_s: float | None = None
    """Their creation-to-first-assignment times, summed, in seconds."""
    categories_open: dict[str, int] | None = None
    categories_created: dict[str, int] | None = None
    stale_tickets: tuple[RawTicket, ...] = ()
    waiting_tickets: tuple[RawTicket, ...] = ()


@dataclass(frozen=True)
class RawTicket:
    """A listed ticket as the store gave it: id, status, assignee, last update."""

    id: str
    status: str
    assignee: str | None
    updated: datetime


def stale_labels(config: HostedWorkload) -> list[str]:
    return [age_label(a) for a in config.stale_after]


def read_updates(
    w: HostedWorkload,
    end: datetime,
    open_by_status: Mapping[tuple[str, str], int],
    *,
    stale: Callable[[datetime], int],
    least_recent: Callable[[str | None, int], list[RawTicket]],
    order: Callable[[RawTicket], tuple[datetime, Any]],
) -> RawWorkload:
    """The update-based figures of one queue (stale counts, oldest update, waiting
    statuses and the listed tickets), read the same way for every store that can count
    and list open tickets by their last update.

    Args:
        w: the source's workload section.
        end: the poll's instant (stale ages count back from it).
        open_by_status: the queue's open tickets per (status, ``""``) from the poll.
        stale: the open tickets last updated before an instant.
        least_recent: up to ``n`` open tickets, least recently updated first, of a
            status (None: of every open status).
        order: how the waiting tickets of all statuses are listed (update, then id).
    """
    raw = RawWorkload()
    if w.stale_after:
        raw.stale = {
            label: stale(end - age)
            for label, age in zip(stale_labels(w), w.stale_after, strict=True)
        }
    listed = w.listed_tickets
    if w.updates:
        first = least_recent(None, listed or 1)
        raw.oldest_update = first[0].updated if first else None
        if listed and w.stale_after:
            raw.stale_tickets = tuple(first)
    if w.waiting_statuses:
        raw.waiting, waiting = {}, []
        for status in w.waiting_statuses:
            n = open_by_status.get((status, ""), 0)
            if n:
                found = least_recent(status, listed or 1)
                raw.waiting[status] = (n, found[0].updated if found else None)
                waiting += found
        if listed:  # the least recently updated of all waiting statuses
            waiting.sort(key=order)
            raw.waiting_tickets = tuple(waiting[:listed])
    return raw


def queue_workloads(
    raw: Mapping[str, RawWorkload], config: HostedWorkload, now: datetime
) -> dict[str, QueueWorkload]:
    """Each queue's :class:`QueueWorkload` from what the store read (``now``: the poll's
    instant, from which ages are measured). Agent labels are bounded over the whole
    source, as the SQL collector bounds them."""

    def age(at: datetime | None) -> float | None:
        return None if at is None else max(0.0, (now - at).total_seconds())

    loads = {
        q: {a: (n, age(first)) for a, (n, first) in r.agents.items()}
        for q, r in raw.items()
        if r.agents is not None
    }
    bounded = bound_agents(loads, config.agents)
    out = {}
    for queue, r in raw.items():
        most, median, share = spread(n for n, _ in (r.agents or {}).values())
        routing = None
        if r.resolved is not None:
            routing = Routing(
                r.resolved,
                r.reassignments,
                r.reopened,
                r.misrouted,
                r.assigned,
                r.first_assignment_s,
            )
        waiting = None
        if r.waiting is not None:
            waiting = tuple(
                Waiting(status, n, age(since), "last_update")
                for status, (n, since) in sorted(r.waiting.items())
                if n
            )
        n_top = config.top_categories
        out[queue] = QueueWorkload(
            agents=bounded.get(queue, ()) if r.agents is not None else None,
            agents_with_work=None if r.agents is None else len(r.agents),
            load_max=most,
            load_median=median,
            busiest_share=share,
            stale=r.stale,
            oldest_update_age_s=age(r.oldest_update),
            waiting=waiting,
            routing=routing,
            categories_open=_top(r.categories_open, n_top),
            categories_created=_top(r.categories_created, n_top),
            stale_tickets=_listed(r.stale_tickets, config, now),
            waiting_tickets=_listed(r.waiting_tickets, config, now),
        )
    return out


def _listed(
    tickets: tuple[RawTicket, ...], config: HostedWorkload, now: datetime
) -> tuple[ListedTicket, ...]:
    """Oldest first (ties by id), ages since the last update, links when configured."""
    listed = [
        ListedTicket(
            t.id,
            t.status,
            t.assignee,
            max(0.0, (now - t.updated).total_seconds()),
            None if config.ticket_url is None else config.ticket_url.replace("{id}", t.id),
        )
        for t in tickets
    ]
    return tuple(sorted(listed, key=lambda t: (-t.age_s, t.id)))


def _top(counts: dict[str, int] | None, n: int | None) -> dict[str, int] | None:
    return None if counts is None or n is None else top_categories(counts, n)


__all__ = [
    "HostedWorkload",
    "RawTicket",
    "RawWorkload",
    "queue_workloads",
    "read_updates",
    "stale_labels",
]
