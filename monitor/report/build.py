"""The report's figures per queue and overall, from one poll over the period (pure).

A poll whose window is the period gives created, resolved, aging and the workload
figures (routing quality of the tickets resolved in the period, top categories); the
report's own statements (``collectors.sqlreport``) give resolution, first-response and
first-assignment time quantiles, SLA
attainment and the aged list; the history store gives the latest forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from alerting.rules.common import ForecastView
from collectors.base import TOTAL_QUEUE, QueueStats, Snapshot
from collectors.sqlreport import AgedTicket, ReportFigures
from collectors.workload import Routing
from monitor.report.chart import BacklogChart

WEEK_HOURS = 168


@dataclass(frozen=True)
class QueueReport:
    """One queue's (or the source's) line of the report; None where unknown."""

    queue: str
    open_now: int
    created: int | None
    resolved: int | None
    resolution_median_s: float | None = None
    resolution_p90_s: float | None = None
    first_responded: int | None = None
    """Tickets first answered in the period; None where the store records no first response."""
    first_response_median_s: float | None = None
    first_response_p90_s: float | None = None
    first_assigned: int | None = None
    """Tickets resolved in the period that record a first assignment; None where the store
    does not record when a ticket was first assigned."""
    first_assignment_median_s: float | None = None
    first_assignment_p90_s: float | None = None
    sla_resolved: int | None = None
    sla_met: int | None = None
    older_than: Mapping[str, int] | None = None
    routing: Routing | None = None
    categories_open: Mapping[str, int] | None = None
    categories_created: Mapping[str, int] | None = None
    forecast_open: float | None = None
    forecast_hours: int | None = None

    @property
    def net(self) -> int | None:
        """Net backlog change over the period: created minus resolved."""
        if self.created is None or self.resolved is None:
            return None
        return self.created - self.resolved

    @property
    def sla_attainment(self) -> float | None:
        if not self.sla_resolved or self.sla_met is None:
            return None
        return self.sla_met / self.sla_resolved


@dataclass(frozen=True)
class Report:
    """The whole report of one source for ``[start, end)``."""

    source: str
    start: datetime
    end: datetime
    queues: tuple[QueueReport, ...]
    overall: QueueReport
    aged: tuple[AgedTicket, ...]
    chart: BacklogChart | None = None
    """The source's hourly backlog and forecast band, when the history store has them."""


def build_report(
    snapshot: Snapshot, figures: ReportFigures, forecasts: Mapping[tuple[str, str], ForecastView]
) -> Report:
    """Assemble the report of one source's poll over the period."""
    queues = tuple(
        _line(q, figures, forecasts.get((snapshot.source, q.queue)), snapshot.as_of)
        for q in sorted(snapshot.queues, key=lambda q: q.queue)
    )
    total = snapshot.total or QueueStats(TOTAL_QUEUE)
    overall = _line(total, figures, forecasts.get((snapshot.source, TOTAL_QUEUE)), snapshot.as_of)
    overall = replace(overall, queue="overall", routing=_summed(queues))
    return Report(
        snapshot.source, snapshot.window.start, snapshot.as_of, queues, overall, figures.aged
    )


def _line(
    q: QueueStats, figures: ReportFigures, forecast: ForecastView | None, now: datetime
) -> QueueReport:
    _, median, p90 = figures.resolution.get(q.queue, (0, None, None))
    answered = None
    if figures.first_response is not None:
        answered = figures.first_response.get(q.queue, (0, None, None))
    assigned = None
    if figures.first_assignment is not None:
        assigned = figures.first_assignment.get(q.queue, (0, None, None))
    sla = figures.sla.get(q.queue, (0, 0)) if figures.sla is not None else None
    w = q.workload
    ahead, hours = _forecast(forecast, now)
    return QueueReport(
        queue=q.queue,
        open_now=q.open_total,
        created=q.created,
        resolved=q.resolved,
        resolution_median_s=median,
        resolution_p90_s=p90,
        first_responded=None if answered is None else answered[0],
        first_response_median_s=None if answered is None else answered[1],
        first_response_p90_s=None if answered is None else answered[2],
        first_assigned=None if assigned is None else assigned[0],
        first_assignment_median_s=None if assigned is None else assigned[1],
        first_assignment_p90_s=None if assigned is None else assigned[2],
        sla_resolved=None if sla is None else sla[0],
        sla_met=None if sla is None else sla[1],
        older_than=q.older_than,
        routing=None if w is None else w.routing,
        categories_open=None if w is None else w.categories_open,
        categories_created=None if w is None else w.categories_created,
        forecast_open=ahead,
        forecast_hours=hours,
    )


def _forecast(view: ForecastView | None, now: datetime) -> tuple[float | None, int | None]:
    """The forecast open tickets a week after ``now`` (or at the forecast's horizon)."""
    if view is None or not view.point:
        return None, None
    elapsed = max(0, int((now - view.made_at).total_seconds() // 3600))
    step = min(elapsed + WEEK_HOURS, len(view.point)) - 1
    return float(view.point[step]), step + 1 - elapsed


def _summed(queues: tuple[QueueReport, ...]) -> Routing | None:
    """The queues' routing figures added up (None where no queue records one)."""
    lines = [q.routing for q in queues if q.routing is not None]
    if not lines:
        return None

    def total(name: str) -> Any:
        values = [getattr(r, name) for r in lines]
        return None if any(v is None for v in values) else sum(values)

    return Routing(
        sum(r.resolved for r in lines),
        reassignments=total("reassignments"),
        reopened=total("reopened"),
        misrouted=total("misrouted"),
        assigned=total("assigned"),
        first_assignment_s=total("first_assignment_s"),
    )
