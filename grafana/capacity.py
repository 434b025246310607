"""The capacity view: the staffing and autoscaling signals, and how long the backlog waits."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.common import QUEUES, Query, dashboard, graph, source_and_queue, with_panels

UID = "backlog-capacity"


def build() -> Dashboard:
    """Recommended agents, desired workers, time lag and drain time per queue."""
    board = dashboard(
        UID,
        "Backlog capacity",
        "Per queue with resourcing configured: recommended agents (humans), desired workers "
        "(KEDA's desired.workers), the wait of a ticket arriving now, the time to drain.",
        source_and_queue(multi=True),
    )
    return with_panels(
        board,
        [
            graph(
                "Recommended agents",
                "Stabilised staffing that meets the queue's objective.",
                [Query(_max("backlog_recommended_agents"), "{{queue}}")],
            ),
            graph(
                "Desired workers",
                "desired.workers of the autoscaler document (KEDA's metrics-api source).",
                [Query(_max("backlog_desired_workers"), "{{queue}}")],
            ),
            graph(
                "Time lag",
                "Expected wait of a ticket arriving now, at the current throughput.",
                [Query(_max("backlog_time_lag_seconds"), "{{queue}}")],
                unit="s",
            ),
            graph(
                "Drain time",
                "Time to empty the backlog at the current rates (no line while it grows).",
                [Query(_max("backlog_drain_time_seconds"), "{{queue}}")],
                unit="s",
            ),
        ],
    )


def _max(metric: str) -> str:
    return f"max by (queue) ({metric}{{{QUEUES}}})"
