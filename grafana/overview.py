"""The supervisor's overview: every queue's backlog against its limit, flow, SLA, advice."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.common import (
    QUEUES,
    PanelBuilder,
    Query,
    ageing,
    dashboard,
    figure,
    graph,
    source_and_queue,
    with_panels,
)

UID = "backlog-overview"


def build() -> Dashboard:
    """The dashboard a supervisor opens every morning."""
    board = dashboard(
        UID,
        "Backlog overview",
        "Every queue: backlog against its limit, the forecast band and time to breach, "
        "arrivals against resolutions, SLA, ageing and the staffing advice.",
        source_and_queue(multi=True),
    )
    return with_panels(board, [*_backlog(), *_flow(), *_quality()])


def _backlog() -> list[PanelBuilder]:
    return [
        figure(
            "Open tickets per source",
            "Each ticket once, also where a ticket sits in several queues (GLPI's groups).",
            [Query('backlog_source_open_tickets{source=~"$source"}', "{{source}}")],
        ),
        figure(
            "Firing alerts",
            "Alert instances firing now, all rules.",
            [Query('sum(backlog_alerts{state="firing"}) or vector(0)', "firing")],
        ),
        figure(
            "Time to breach",
            "When the forecast band first crosses a forecast rule's limit, per queue.",
            [
                Query(
                    f"min by (queue) (backlog_forecast_breach_eta_seconds{{{QUEUES}}})", "{{queue}}"
                )
            ],
            unit="s",
        ),
        figure(
            "Recommended agents",
            "Stabilised staffing for each queue's objective (resourcing).",
            [Query(f"max by (queue) (backlog_recommended_agents{{{QUEUES}}})", "{{queue}}")],
        ),
        graph(
            "Open tickets against the limit",
            "Open tickets per queue, and the lowest limit a threshold or forecast rule puts "
            "on it (dashed in the legend as 'limit').",
            [
                Query(f"sum by (queue) (backlog_open_tickets{{{QUEUES}}})", "{{queue}}"),
                Query(f"min by (queue) (backlog_rule_threshold{{{QUEUES}}})", "limit {{queue}}"),
            ],
        ),
        graph(
            "Forecast 6 h ahead, with its band",
            "The point forecast and the calibrated band for 6 hours ahead, drawn at the "
            "time the forecast was made.",
            [
                Query(_forecast("point"), "point {{queue}}"),
                Query(_forecast("lower"), "lower {{queue}}"),
                Query(_forecast("upper"), "upper {{queue}}"),
            ],
        ),
    ]


def _forecast(bound: str) -> str:
    selector = f'{QUEUES}, horizon="6h", bound="{bound}"'
    return f"max by (queue) (backlog_forecast_open_tickets{{{selector}}})"


def _flow() -> list[PanelBuilder]:
    created = f"sum by (queue) (increase(backlog_tickets_created_total{{{QUEUES}}}[1h]))"
    resolved = f"sum by (queue) (increase(backlog_tickets_resolved_total{{{QUEUES}}}[1h]))"
    return [
        graph(
            "Created and resolved per hour",
            "Tickets created and resolved over the last hour, per queue.",
            [Query(created, "created {{queue}}"), Query(resolved, "resolved {{queue}}")],
        ),
        graph(
            "Net flow per hour",
            "Created minus resolved over the last hour: above 0 the backlog grows.",
            [Query(f"{created} - {resolved}", "{{queue}}")],
        ),
    ]


def _quality() -> list[PanelBuilder]:
    return [
        graph(
            "SLA: breached and at risk",
            "Open tickets past their SLA deadline, and those due within the at-risk margin.",
            [
                Query(
                    f"sum by (queue, sla) (backlog_sla_breached_open_tickets{{{QUEUES}}})",
                    "breached {{sla}} {{queue}}",
                ),
                Query(
                    f"sum by (queue, sla) (backlog_sla_at_risk_tickets{{{QUEUES}}})",
                    "at risk {{sla}} {{queue}}",
                ),
            ],
            width=8,
        ),
        ageing(QUEUES),
        graph(
            "Oldest open ticket",
            "Age of each queue's oldest open ticket.",
            [Query(f"max by (queue) (backlog_oldest_ticket_age_seconds{{{QUEUES}}})", "{{queue}}")],
            unit="s",
            width=8,
        ),
    ]
