"""Workload metrics from the latest stored figures (``collectors.workload``).

Labels stay bounded: agents are bounded by the source's ``workload.agents`` (every agent
up to ``max_agents``, else the busiest ``top`` plus ``other``), categories by
``top_categories`` plus ``other``, stale ages and waiting statuses by configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import Metric

from monitor.store.history import Row

Family = Callable[[str], Any]

WORKLOAD_METRICS = (
    "backlog_agent_open_tickets",
    "backlog_agent_oldest_ticket_age_seconds",
    "backlog_queue_agents_with_work",
    "backlog_queue_agent_load_max",
    "backlog_queue_agent_load_median",
    "backlog_queue_busiest_agents_share",
    "backlog_stale_open_tickets",
    "backlog_oldest_update_age_seconds",
    "backlog_waiting_tickets",
    "backlog_waiting_oldest_age_seconds",
    "backlog_routing_reassignments_last_poll",
    "backlog_routing_reopened_last_poll",
    "backlog_routing_misrouted_last_poll",
    "backlog_routing_first_assigned_last_poll",
    "backlog_routing_first_assignment_seconds_last_poll",
    "backlog_category_open_tickets",
    "backlog_category_created_last_poll",
)
"""Every metric this module exports (each is in ``monitor.metrics.CATALOGUE``)."""

_QUEUE_GAUGES = {
    "backlog_queue_agents_with_work": "agents_with_work",
    "backlog_queue_agent_load_max": "load_max",
    "backlog_queue_agent_load_median": "load_median",
    "backlog_queue_busiest_agents_share": "busiest_share",
    "backlog_oldest_update_age_seconds": "oldest_update_age_s",
}
_ROUTING = {
    "backlog_routing_reassignments_last_poll": "reassignments",
    "backlog_routing_reopened_last_poll": "reopened",
    "backlog_routing_misrouted_last_poll": "misrouted",
    "backlog_routing_first_assigned_last_poll": "assigned",
    "backlog_routing_first_assignment_seconds_last_poll": "first_assignment_s",
}
_CATEGORIES = {
    "backlog_category_open_tickets": "categories_open",
    "backlog_category_created_last_poll": "categories_created",
}


def workload_metrics(latest: Iterable[Row], family: Family) -> Iterator[Metric]:
    """The workload families from the latest row of each real queue."""
    f = {name: family(name) for name in WORKLOAD_METRICS}
    for row in latest:
        w = row.get("workload")
        if w:
            _queue(f, [row["source"], row["queue"]], w)
    yield from f.values()


def _queue(f: dict[str, Any], key: list[str], w: dict[str, Any]) -> None:
    for agent in w.get("agents") or ():
        labels = [*key, agent["agent"]]
        f["backlog_agent_open_tickets"].add_metric(labels, agent["open"])
        if agent["oldest_age_s"] is not None:
            f["backlog_agent_oldest_ticket_age_seconds"].add_metric(labels, agent["oldest_age_s"])
    routing = w.get("routing") or {}
    for name, field in _QUEUE_GAUGES.items():
        if w.get(field) is not None:
            f[name].add_metric(key, w[field])
    for name, field in _ROUTING.items():
        if routing.get(field) is not None:
            f[name].add_metric(key, routing[field])
    for age, n in (w.get("stale") or {}).items():
        f["backlog_stale_open_tickets"].add_metric([*key, age], n)
    for waiting in w.get("waiting") or ():
        labels = [*key, waiting["status"], waiting["age_from"]]
        f["backlog_waiting_tickets"].add_metric(labels, waiting["count"])
        if waiting["oldest_age_s"] is not None:
            f["backlog_waiting_oldest_age_seconds"].add_metric(labels, waiting["oldest_age_s"])
    for name, field in _CATEGORIES.items():
        for category, n in (w.get(field) or {}).items():
            f[name].add_metric([*key, category], n)
