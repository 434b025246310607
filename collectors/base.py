"""What every collector produces, and the narrow protocol every collector implements.

A collector reads one ticket store and returns a :class:`Snapshot`: per queue, the
open backlog broken down by status and priority, the tickets created and resolved
in the half-open window ``[window_start, as_of)``, and aging; optionally the same figures
for the whole source, each ticket counted once (``Snapshot.total``). A figure a store
cannot give is ``None``, never 0. Collectors raise :mod:`monitor.errors` collector errors
and never log them; they hold no state between polls that the figures depend on (the
daemon owns the watermark).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel

from collectors.workload import QueueWorkload

Exactness = Literal["exact", "approximate", "lagging", "sampled"]
"""How exact a snapshot's figures are: ``approximate`` (Jira's approximate count),
``lagging`` (counted by a search index a few minutes behind the store)."""

AGE_BUCKETS: tuple[tuple[str, int], ...] = (("7d", 7), ("14d", 14), ("30d", 30))
"""Open-ticket age buckets exported as ``backlog_open_tickets_older_than{age=...}``."""

TOTAL_QUEUE = "__total__"
"""The queue name under which a source's total (:attr:`Snapshot.total`) is stored and
selected by rules (``match: {queue: __total__}``). No help-desk queue may take it."""

OPTIONAL_FIGURES: tuple[str, ...] = (
    "priority",
    "unassigned",
    "first_response",
    "sla_first_response",
    "sla_resolution",
    "reopened",
)
"""Figures a source may be unable to give while the core ones (open by queue and status,
age, created, resolved) are fine: each is read on its own and reported absent alone."""


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)`` a poll counts created/resolved tickets in.

    ``historical`` asks for the figures as they were at ``end`` (``snapshot --as-of``,
    ``backfill``): the open backlog is reconstructed from the tickets' creation and
    resolution times instead of read from their current status. The daemon's live polls
    leave it False.
    """

    start: datetime
    end: datetime
    historical: bool = False

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")


@dataclass(frozen=True)
class QueueStats:
    """One queue's figures at one poll.

    Attributes:
        queue: the queue's display name.
        open_by_status_priority: open tickets per ``(status, priority)``.
        created: tickets created in the poll's window, or None if unknown.
        resolved: tickets resolved in the poll's window, or None if unknown.
        oldest_age_s: age in seconds of the oldest open ticket (None when none is open).
        older_than: open tickets older than each of :data:`AGE_BUCKETS`.
        age_quantiles: open-ticket age quantiles in seconds, keyed ``"0.5"``, ``"0.9"``...
        sla_breached_open: open tickets already past their SLA, per SLA kind.
        sla_at_risk: open tickets due within the at-risk margin, per SLA kind.
        unassigned: open tickets with no assignee.
        sla_breached_window: SLA deadlines of each kind that fell in the window and were missed.
        avg_first_response_s: mean first-response time of the tickets resolved in the window.
        avg_resolution_s: mean resolution time of the tickets resolved in the window.
        reopened: tickets reopened in the window.
        workload: agent load, stale and waiting tickets, routing quality and categories
            (``collectors.workload``), or None when the source is not asked for them.
    """

    queue: str
    open_by_status_priority: Mapping[tuple[str, str], int] = field(default_factory=dict)
    created: int | None = None
    resolved: int | None = None
    oldest_age_s: float | None = None
    older_than: Mapping[str, int] | None = None
    age_quantiles: Mapping[str, float] | None = None
    sla_breached_open: Mapping[str, int] | None = None
    sla_at_risk: Mapping[str, int] | None = None
    unassigned: int | None = None
    sla_breached_window: Mapping[str, int] | None = None
    avg_first_response_s: float | None = None
    avg_resolution_s: float | None = None
    reopened: int | None = None
    workload: QueueWorkload | None = None

    @property
    def open_total(self) -> int:
        """All open tickets of the queue."""
        return sum(self.open_by_status_priority.values())

    @classmethod
    def empty(cls, queue: str) -> QueueStats:
        """A queue the store answered for and that has nothing open and no traffic."""
        return cls(queue=queue, created=0, resolved=0, older_than={k: 0 for k, _ in AGE_BUCKETS})


@dataclass(frozen=True)
class FigureState:
    """Whether a source can give one of :data:`OPTIONAL_FIGURES`, and if not, why.

    Attributes:
        name: the figure, one of :data:`OPTIONAL_FIGURES`.
        available: True when the latest poll read it.
        reason: why it is absent (not mapped, a table missing or not readable, with the
            grant to give); empty when available.
        mapped: False when the source's configuration does not ask for it at all (the
            help desk has no such data): absent by choice, not by a fault.
    """

    name: str
    available: bool
    reason: str = ""
    mapped: bool = True


@dataclass(frozen=True)
class Snapshot:
    """Everything one successful poll of one source saw.

    Attributes:
        source: the source's name.
        window: the poll's window; its end is the as-of instant.
        queues: per-queue figures. A ticket may count in several queues when the store
            links it to several (GLPI's assigned groups).
        exactness: how exact the figures are.
        total: the source's figures with every ticket counted once (queue
            :data:`TOTAL_QUEUE`), or None when the collector does not compute them.
        figures: the state of each optional figure; empty when the collector does not
            report them.
    """

    source: str
    window: Window
    queues: tuple[QueueStats, ...]
    exactness: Exactness = "exact"
    total: QueueStats | None = None
    figures: tuple[FigureState, ...] = ()

    @property
    def as_of(self) -> datetime:
        """The instant the figures describe (the end of the window)."""
        return self.window.end


class Collector(Protocol):
    """A ticket-store reader. ``kind`` names it in configuration (``kind: sql``)."""

    kind: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    @property
    def name(self) -> str:
        """The source name, used as the ``source`` label."""
        ...

    def collect(self, window: Window) -> Snapshot:
        """Read the store: backlog as of ``window.end``, throughput within ``window``.

        Raises:
            SourceUnavailable, AuthFailed, RateLimited, MappingError.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class HourFigures:
    """One queue's hour reconstructed from a store's own times (``backfill``).

    Attributes:
        queue: the queue, or :data:`TOTAL_QUEUE` for the source's total.
        hour: the hour's start (aware, UTC).
        open_end: tickets open at the hour's end.
        created: tickets created in the hour.
        resolved: tickets resolved in the hour (and not open now).
    """

    queue: str
    hour: datetime
    open_end: int
    created: int
    resolved: int


class HistoryReader(Protocol):
    """A collector that can reconstruct past hours from the store's own times."""

    def hourly(self, start: datetime, end: datetime) -> list[HourFigures]:
        """Every queue's (and the total's) figures for each hour of ``[start, end)``
        (whole UTC hours), computed in the store with one set-based read per span of
        hours with a constant UTC offset.

        Raises:
            SourceUnavailable, AuthFailed, MappingError.
        """
        ...


def reserved_queue_names(snapshot: Snapshot) -> str | None:
    """Why ``snapshot`` cannot be stored because a queue takes :data:`TOTAL_QUEUE`'s name
    (its rows would merge with the source's total, and rules selecting the total would
    select it); None when no queue does."""
    if any(q.queue == TOTAL_QUEUE for q in snapshot.queues):
        return reserved_queue_message(snapshot.source)
    return None


def reserved_queue_message(source: str) -> str:
    """The error a source whose store has a queue named :data:`TOTAL_QUEUE` gets (a poll
    or a backfill is refused rather than mix that queue with the source's total)."""
    return (
        f"{source}: the ticket store has a queue named {TOTAL_QUEUE!r}, the name"
        " reserved for the source's total; rename that queue in the store or leave it"
        " out of the source's mapping (polls and backfills are refused rather than mix the two)"
    )
