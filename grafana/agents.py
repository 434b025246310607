"""Agents and hygiene: who holds the work, what nobody touches, what waits, what bounces.

The figures of ``monitor/workloadmetrics.py`` (docs/workload.md): per-agent load and its
spread, stale and waiting tickets, routing quality, top categories, and the alerts the
``wip_limit`` and ``stale`` rules raise on the chosen queues.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable

from grafana.common import (
    QUEUES,
    PanelBuilder,
    Query,
    alert_annotation,
    dashboard,
    figure,
    graph,
    listing,
    source_and_queue,
    variable,
    with_panels,
)

UID = "backlog-agents"
TOP = 10
"""Agents drawn on the per-agent graphs (the table lists them all)."""
ALERTS = f'{QUEUES}, alertname=~"$alert"'
"""The alerts picked in the ``alert`` variable on the chosen queues."""


def build() -> Dashboard:
    """Per-agent load, spread, stale, waiting, routing, categories; alerts as annotations."""
    board = dashboard(
        UID,
        "Agents and hygiene",
        "Per agent and queue: open tickets and the oldest one; per queue: agents with work, "
        "load spread, stale and waiting tickets, reassignments, reopens and misroutes, top "
        "categories; the WIP and stale alerts (pick them in Alert) as annotations and a table.",
        [*source_and_queue(multi=True), _alert_variable()],
    )
    board = board.annotation(alert_annotation("Firing alerts", "firing", "red", ALERTS))
    board = board.annotation(alert_annotation("Pending alerts", "pending", "orange", ALERTS))
    return with_panels(board, [*_spread(), *_agents(), *_hygiene(), *_routing(), _alerts()])


def _alert_variable() -> QueryVariable:
    # Rule names are the operator's; the metric has no rule kind, so the WIP and stale
    # rules are picked by name (All by default).
    return variable(
        "alert", 'label_values(backlog_queue_alerts{source=~"$source"}, alertname)', multi=True
    )


def _spread() -> list[PanelBuilder]:
    return [
        figure(
            "Agents with work",
            "Agents holding at least one open ticket, summed over the chosen queues (an agent "
            "in two queues counts twice).",
            [Query(f"sum(backlog_queue_agents_with_work{{{QUEUES}}})", "agents")],
        ),
        figure(
            "Busiest agent",
            "Open tickets of the busiest agent of any chosen queue.",
            [Query(f"max(backlog_queue_agent_load_max{{{QUEUES}}})", "open")],
        ),
        figure(
            "Median load",
            "The highest, over the chosen queues, of the median open tickets per agent.",
            [Query(f"max(backlog_queue_agent_load_median{{{QUEUES}}})", "open")],
        ),
        figure(
            "Busiest 10% share",
            "The highest, over the chosen queues, share of assigned open tickets held by the "
            "busiest 10% of the queue's agents.",
            [Query(f"max(backlog_queue_busiest_agents_share{{{QUEUES}}})", "share")],
            unit="percentunit",
        ),
        graph(
            "Load spread",
            "Per queue: open tickets of the busiest agent and the median agent.",
            [
                Query(_by_queue("backlog_queue_agent_load_max"), "{{queue}} max"),
                Query(_by_queue("backlog_queue_agent_load_median"), "{{queue}} median"),
            ],
        ),
        graph(
            "Busiest 10% share per queue",
            "Per queue: share of assigned open tickets held by the busiest 10% of agents.",
            [Query(_by_queue("backlog_queue_busiest_agents_share"), "{{queue}}")],
            unit="percentunit",
        ),
    ]


def _agents() -> list[PanelBuilder]:
    return [
        graph(
            f"Open tickets, top {TOP} agents",
            "Open tickets per agent and queue (the busiest at each instant; 'other' gathers "
            "the agents beyond the source's bound).",
            [Query(_top("backlog_agent_open_tickets"), "{{queue}} {{agent}}")],
        ),
        graph(
            f"Oldest ticket, top {TOP} agents",
            "Age of each agent's oldest open ticket, per queue (the oldest at each instant).",
            [Query(_top("backlog_agent_oldest_ticket_age_seconds"), "{{queue}} {{agent}}")],
            unit="s",
        ),
        listing(
            "Open tickets per agent now",
            "Every agent series of the chosen queues at the latest poll.",
            Query(f"backlog_agent_open_tickets{{{QUEUES}}}"),
            width=12,
        ),
        listing(
            "Oldest ticket per agent now",
            "Age in seconds of each agent's oldest open ticket at the latest poll.",
            Query(f"backlog_agent_oldest_ticket_age_seconds{{{QUEUES}}}"),
            width=12,
        ),
    ]


def _hygiene() -> list[PanelBuilder]:
    return [
        graph(
            "Stale tickets",
            "Open tickets with no update for longer than each configured age.",
            [Query(f"sum by (age) (backlog_stale_open_tickets{{{QUEUES}}})", "> {{age}}")],
            width=8,
        ),
        graph(
            "Least recently updated",
            "Per queue: time since the least recently updated open ticket changed.",
            [Query(_by_queue("backlog_oldest_update_age_seconds"), "{{queue}}")],
            unit="s",
            width=8,
        ),
        graph(
            "Waiting tickets",
            "Open tickets per waiting status (age from the status history, else the last update).",
            [
                Query(
                    f"sum by (status) (backlog_waiting_tickets{{{QUEUES}}})",
                    "{{status}}",
                )
            ],
            width=8,
        ),
        graph(
            "Oldest waiting ticket",
            "Longest time in each waiting status; age_from says whether it counts from "
            "entering the status (status_history) or from the last update (last_update).",
            [
                Query(
                    f"max by (status, age_from) (backlog_waiting_oldest_age_seconds{{{QUEUES}}})",
                    "{{status}} ({{age_from}})",
                )
            ],
            unit="s",
        ),
    ]


def _routing() -> list[PanelBuilder]:
    window = "tickets resolved in the latest poll window"
    return [
        graph(
            "Reassignments, reopens and misroutes",
            f"Of the {window}: reassignments, reopened tickets, and tickets moved to another "
            "queue after their first assignment. Absent where the store does not record them.",
            [
                Query(f"sum(backlog_routing_reassignments_last_poll{{{QUEUES}}})", "reassigned"),
                Query(f"sum(backlog_routing_reopened_last_poll{{{QUEUES}}})", "reopened"),
                Query(f"sum(backlog_routing_misrouted_last_poll{{{QUEUES}}})", "misrouted"),
            ],
        ),
        graph(
            "Time to first assignment",
            f"Of the {window} whose first assignment the store records (Zendesk): the mean "
            "time from creation to the first assignee. Absent where the store does not "
            "record it.",
            [
                Query(
                    f"sum(backlog_routing_first_assignment_seconds_last_poll{{{QUEUES}}})"
                    f" / sum(backlog_routing_first_assigned_last_poll{{{QUEUES}}})",
                    "mean",
                )
            ],
            unit="s",
        ),
        graph(
            "Top categories, open",
            "Open tickets of the top N categories of each queue, the rest as other.",
            [Query(_by_category("backlog_category_open_tickets"), "{{category}}")],
        ),
        graph(
            "Top categories, created",
            "Tickets created in the latest poll window, top N categories and other.",
            [Query(_by_category("backlog_category_created_last_poll"), "{{category}}")],
        ),
    ]


def _alerts() -> PanelBuilder:
    return listing(
        "WIP and stale alerts now",
        "Pending and firing instances of the rules picked in Alert on the chosen queues.",
        Query(f"backlog_queue_alerts{{{ALERTS}}}"),
        width=12,
    )


def _by_queue(metric: str) -> str:
    return f"max by (queue) ({metric}{{{QUEUES}}})"


def _by_category(metric: str) -> str:
    return f"sum by (category) ({metric}{{{QUEUES}}})"


def _top(metric: str) -> str:
    return f"topk({TOP}, max by (queue, agent) ({metric}{{{QUEUES}}}))"
