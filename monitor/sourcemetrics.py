"""Source-wide metrics: each source's total (every ticket once) and its figures' state.

The total is stored like a queue named :data:`collectors.base.TOTAL_QUEUE`; it is
exported under metrics of its own (``backlog_source_*``), never as a ``queue`` label of
the per-queue metrics, so that summing those over queues keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import Metric

from collectors.base import TOTAL_QUEUE
from monitor.store.history import Row, SourceHealth

Family = Callable[[str], Any]
"""Builds the empty family of a catalogued metric (``monitor.metrics._family``)."""


def per_queue(rows: Iterable[Row]) -> list[Row]:
    """The store rows of real queues (the sources' totals left out)."""
    return [r for r in rows if r["queue"] != TOTAL_QUEUE]


def source_metrics(
    latest: Iterable[Row],
    counters: Iterable[Row],
    health: Mapping[str, SourceHealth],
    sources: Iterable[str],
    family: Family,
) -> Iterator[Metric]:
    """``backlog_source_*`` from the totals, ``backlog_collector_figure_available``."""
    open_ = family("backlog_source_open_tickets")
    for row in latest:
        if row["queue"] == TOTAL_QUEUE:
            open_.add_metric([row["source"]], row["open_total"])
    created = family("backlog_source_tickets_created_total")
    resolved = family("backlog_source_tickets_resolved_total")
    for row in counters:
        if row["queue"] == TOTAL_QUEUE:
            created.add_metric([row["source"]], row["created_total"])
            resolved.add_metric([row["source"]], row["resolved_total"])
    available = family("backlog_collector_figure_available")
    for source in sources:
        state = health.get(source)
        for figure, detail in sorted(((state.figures if state else None) or {}).items()):
            available.add_metric([source, figure], 1.0 if detail.get("available") else 0.0)
    yield from (open_, created, resolved, available)
