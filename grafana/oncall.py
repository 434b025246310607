"""The on-call view: what fired, whether it was delivered, and whether the daemon is healthy."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.common import (
    PanelBuilder,
    Query,
    dashboard,
    figure,
    graph,
    listing,
    variable,
    with_panels,
)

UID = "backlog-oncall"
SOURCES = 'source=~"$source"'


def build() -> Dashboard:
    """Alerts by state, deliveries per receiver, outbox, collectors, durations."""
    board = dashboard(
        UID,
        "Backlog on-call",
        "Alerts by state, notifications sent, retried and dead per receiver, the outbox, "
        "collector health and errors, evaluation and poll durations.",
        [variable("source", "label_values(backlog_collector_up, source)", multi=True)],
    )
    return with_panels(board, [*_alerts(), *_delivery(), *_collectors()])


def _alerts() -> list[PanelBuilder]:
    return [
        graph(
            "Alerts by state",
            "Alert instances per rule and state (pending, firing, resolved).",
            [Query("sum by (alertname, state) (backlog_alerts)", "{{alertname}} {{state}}")],
        ),
        listing(
            "Pending and firing, per queue",
            "Each alert instance now pending or firing, with its queue.",
            Query("backlog_queue_alerts"),
            width=12,
        ),
    ]


def _delivery() -> list[PanelBuilder]:
    sent = "sum by (receiver, outcome) (increase(backlog_notifications_total[1h]))"
    # Receivers that never failed have no retry/dead series: 0 for each, not "No data".
    failed = (
        'sum by (receiver, outcome) (increase(backlog_notifications_total{outcome!="success"}'
        "[1h])) or sum by (receiver) (0 * backlog_outbox_pending)"
    )
    return [
        graph(
            "Notifications per hour",
            "Delivery attempts over the last hour, per receiver and outcome.",
            [Query(sent, "{{receiver}} {{outcome}}")],
            width=8,
        ),
        graph(
            "Retried, dead and disabled per hour",
            "Failed delivery attempts over the last hour (0 when there were none).",
            [Query(failed, "{{receiver}} {{outcome}}")],
            width=8,
        ),
        graph(
            "Outbox",
            "Notifications waiting per receiver, and dead letters to replay.",
            [
                Query("sum by (receiver) (backlog_outbox_pending)", "pending {{receiver}}"),
                Query("sum by (receiver) (backlog_outbox_dead)", "dead {{receiver}}"),
            ],
            width=8,
        ),
    ]


def _collectors() -> list[PanelBuilder]:
    errors = (
        f"sum by (source, reason) (increase(backlog_collector_errors_total{{{SOURCES}}}[1h]))"
        f" or sum by (source) (0 * backlog_collector_up{{{SOURCES}}})"
    )
    return [
        figure(
            "Collectors up",
            "1 when the source's latest poll succeeded.",
            [Query(f"backlog_collector_up{{{SOURCES}}}", "{{source}}")],
            width=6,
        ),
        graph(
            "Collector errors per hour",
            "Failed polls over the last hour, by reason (0 when there were none).",
            [Query(errors, "{{source}} {{reason}}")],
            width=6,
        ),
        graph(
            "Poll duration",
            "Duration of each source's latest poll.",
            [Query(f"backlog_collector_duration_seconds{{{SOURCES}}}", "{{source}}")],
            unit="s",
            width=6,
        ),
        graph(
            "Rule evaluation duration",
            "Duration of the latest evaluation tick.",
            [Query("backlog_rule_evaluation_duration_seconds", "evaluation")],
            unit="s",
            width=6,
        ),
    ]
