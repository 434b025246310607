"""One queue in detail: backlog with its forecast band, flow, ages, SLA, its own alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.common import (
    ONE_QUEUE,
    PanelBuilder,
    Query,
    ageing,
    alert_annotation,
    dashboard,
    figure,
    graph,
    listing,
    source_and_queue,
    with_panels,
)

UID = "backlog-queue"


def build() -> Dashboard:
    """The queue picked in the source and queue variables; its alerts mark the graphs."""
    board = dashboard(
        UID,
        "Backlog queue detail",
        "One queue: backlog with its forecast band, arrivals and resolutions, ticket ages, "
        "SLA, and the queue's own alerts as annotations.",
        source_and_queue(multi=False),
    )
    board = board.annotation(alert_annotation("Firing alerts", "firing", "red"))
    board = board.annotation(alert_annotation("Pending alerts", "pending", "orange"))
    return with_panels(board, [*_now(), *_history()])


def _now() -> list[PanelBuilder]:
    return [
        figure(
            "Open now",
            "Open tickets at the latest poll.",
            [Query(f"sum(backlog_open_tickets{{{ONE_QUEUE}}})", "open")],
        ),
        figure(
            "Limit",
            "The lowest limit a threshold or forecast rule puts on this queue.",
            [Query(f"min(backlog_rule_threshold{{{ONE_QUEUE}}})", "limit")],
        ),
        figure(
            "Time to breach",
            "When the forecast band first crosses each forecast rule's limit.",
            [Query(f"backlog_forecast_breach_eta_seconds{{{ONE_QUEUE}}}", "{{rule}}")],
            unit="s",
        ),
        figure(
            "Oldest open ticket",
            "Age of the oldest open ticket.",
            [Query(f"max(backlog_oldest_ticket_age_seconds{{{ONE_QUEUE}}})", "oldest")],
            unit="s",
        ),
    ]


def _history() -> list[PanelBuilder]:
    forecast = f'backlog_forecast_open_tickets{{{ONE_QUEUE}, horizon="6h"}}'
    created = f"sum(increase(backlog_tickets_created_total{{{ONE_QUEUE}}}[1h]))"
    resolved = f"sum(increase(backlog_tickets_resolved_total{{{ONE_QUEUE}}}[1h]))"
    return [
        graph(
            "Backlog and forecast band",
            "Open tickets by status, and the forecast for 6 hours ahead (point and band), "
            "drawn at the time it was made.",
            [
                Query(f"sum by (status) (backlog_open_tickets{{{ONE_QUEUE}}})", "{{status}}"),
                Query(f"max by (bound) ({forecast})", "forecast {{bound}}"),
            ],
        ),
        graph(
            "Arrivals and resolutions per hour",
            "Tickets created and resolved over the last hour.",
            [Query(created, "created"), Query(resolved, "resolved")],
        ),
        graph(
            "Open-ticket age quantiles",
            "Age of the open tickets at p50, p90 and p99.",
            [
                Query(
                    f"max by (quantile) (backlog_ticket_age_seconds{{{ONE_QUEUE}}})",
                    "p{{quantile}}",
                )
            ],
            unit="s",
            width=8,
        ),
        graph(
            "SLA",
            "Open tickets past their deadline, at risk, and deadlines missed in the latest poll.",
            [
                Query(
                    f"sum by (sla) (backlog_sla_breached_open_tickets{{{ONE_QUEUE}}})",
                    "breached {{sla}}",
                ),
                Query(
                    f"sum by (sla) (backlog_sla_at_risk_tickets{{{ONE_QUEUE}}})", "at risk {{sla}}"
                ),
                Query(
                    f"sum by (sla) (backlog_sla_missed_last_poll{{{ONE_QUEUE}}})", "missed {{sla}}"
                ),
            ],
            width=8,
        ),
        ageing(ONE_QUEUE),
        figure(
            "Forecast error",
            "Backtest MASE of the queue's forecast model at the alert horizon (below 1: better "
            "than the naive forecast).",
            [Query(f"backlog_forecast_backtest_mase{{{ONE_QUEUE}}}", "MASE")],
            width=6,
        ),
        listing(
            "Forecast model",
            "The model forecasting the queue and its status (chosen by backtest).",
            Query(f"backlog_forecast_model{{{ONE_QUEUE}}}"),
            width=18,
        ),
        listing(
            "Alerts on this queue now",
            "Pending and firing alert instances of the queue, by rule and severity.",
            Query(f"backlog_queue_alerts{{{ONE_QUEUE}}}"),
        ),
    ]
