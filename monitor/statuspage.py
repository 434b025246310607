"""The status page at ``/``: every queue at a glance, rendered on the server.

Jinja2 (through Starlette's templating) renders ``monitor/templates/status.html`` from a
:class:`monitor.statusview.StatusPage`. There is no front-end build and no script: the
page refreshes itself with a meta refresh, the charts are inline SVG, and the CSS is
inline, so the Content-Security-Policy forbids scripts outright.

The page needs an API token like the API (a browser gives it as the Basic password;
``http.status_page_auth: none`` opens it). It shows what ``/metrics`` and
``GET /api/v1/alerts`` already show: queue figures, alert states and reasons, silence
state, staffing summaries and source health. It never shows a URL, a receiver, a
credential or an error message (they may name hosts), only the error's reason code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from alerting.limits import backlog_limits
from monitor.daemon import Daemon
from monitor.resourcing import load_documents
from monitor.sparkline import PAST
from monitor.statusview import Key, StoreView, build_page
from monitor.store import alerts as alert_store
from monitor.store import forecasting as forecast_store
from monitor.store import history
from monitor.store import notifying as notify_store
from monitor.store.schema import TS, snapshots

REFRESH_SECONDS = 60
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class HourStart(FunctionElement[datetime]):
    """The start of the hour of a timestamp column (one spelling per store dialect)."""

    type = TS
    inherit_cache = True


@compiles(HourStart)
def _sqlite_hour(element: HourStart, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(element.clauses, **kw)})"


@compiles(HourStart, "postgresql")
def _pg_hour(element: HourStart, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(HourStart, "mysql")
@compiles(HourStart, "mariadb")
def _mysql_hour(element: HourStart, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(DATE_FORMAT({column}, '%%Y-%%m-%%d %%H:00:00') AS DATETIME)"


def trends(conn: sa.Connection, now: datetime) -> dict[Key, list[tuple[datetime, float]]]:
    """Hourly mean open tickets of every queue over the last day, oldest first.

    The store groups the raw rows by hour, so the page reads at most 24 rows per queue
    whatever the poll interval. Each hour's mean is placed at its middle.
    """
    hour = HourStart(snapshots.c.ts).label("hour")
    query = (
        sa.select(snapshots.c.source, snapshots.c.queue, hour, sa.func.avg(snapshots.c.open_total))
        .where(snapshots.c.ts > now - PAST, snapshots.c.ts <= now)
        .group_by(snapshots.c.source, snapshots.c.queue, hour)
        .order_by(hour)
    )
    out: dict[Key, list[tuple[datetime, float]]] = {}
    for source, queue, start, mean in conn.execute(query):
        out.setdefault((source, queue), []).append((start + timedelta(minutes=30), float(mean)))
    return out


def read_store(daemon: Daemon, now: datetime) -> StoreView:
    """Everything the page needs, read in one connection."""
    with daemon.engine.connect() as conn:
        latest = history.latest(conn)
        series = trends(conn, now)
        forecasts = forecast_store.load_forecasts(conn)
        instances = list(alert_store.load_instances(conn).values())
        silences = notify_store.load_silences(conn)
        staffing = load_documents(conn)
        health = history.source_health(conn)
    keys = [(r["source"], r["queue"]) for r in latest]
    for row in latest:  # the hour in progress ends at the latest poll's exact figure
        series.setdefault((row["source"], row["queue"]), []).append(
            (row["ts"], float(row["open_total"]))
        )
    return StoreView(
        latest=latest,
        trends=series,
        forecasts={(f["source"], f["queue"]): f for f in forecasts},
        instances=instances,
        silences=silences,
        staffing=staffing,
        health=health,
        sources=list(daemon.source_names),
        limits=backlog_limits(daemon.rules, keys),
    )


class StatusPageRoute:
    """The ``/`` handler bound to one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        environment = Environment(
            loader=PackageLoader("monitor", "templates"),
            autoescape=select_autoescape(default=True),
        )
        self.templates = Jinja2Templates(env=environment)

    def page(self, request: Request) -> Response:
        """The status page (HTML)."""
        now = self.daemon.clock()
        page = build_page(read_store(self.daemon, now), now)
        context: Mapping[str, Any] = {"page": page, "refresh": REFRESH_SECONDS}
        response = self.templates.TemplateResponse(request, "status.html", dict(context))
        response.headers.update(HEADERS)
        return response
