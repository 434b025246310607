"""The report's backlog chart: three weeks of the real hourly ServiceNow total in the
store, the forecast job's stored forecast, and the SVG drawn from both."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE
from monitor.report.build import Report
from monitor.report.chart import HEIGHT, WIDTH, geometry, read_chart
from monitor.report.render import html
from monitor.store import forecasting as forecast_store
from monitor.store.schema import rollups
from tests.fakes import FakeClock
from tests.monitor.test_forecast_job import daemon_at
from tests.monitor.test_report import report, tickets  # noqa: F401 (fixtures)

ZONE = ZoneInfo("America/Sao_Paulo")
SOURCE = "servicenow-total"


def test_chart_is_the_stored_backlog_and_forecast_band(
    store: sa.Engine,
    report: Report,  # noqa: F811
) -> None:
    """The past is the hourly rollups' open count over the period (of the one forecast
    queue, as the source's total is not forecast here); the band is the stored
    forecast's lower and upper; the page draws both."""
    clock = FakeClock(datetime(2016, 3, 21, 11, tzinfo=ZONE))
    daemon = daemon_at(store, clock)
    try:
        assert daemon.forecast() == 1
    finally:
        daemon.close()
    end = clock.now
    start = end - timedelta(days=7)
    with store.connect() as conn:
        chart = read_chart(conn, SOURCE, start, end)
        hours = conn.execute(
            sa.select(rollups.c.hour, rollups.c.open_last)
            .where(rollups.c.source == SOURCE, rollups.c.queue == "all")
            .where(rollups.c.hour >= start, rollups.c.hour < end)
            .order_by(rollups.c.hour)
        ).all()
        # the demo's one queue "all" is forecast (forecasts.match), not its total
        [stored] = forecast_store.load_forecasts(conn)
    assert stored["queue"] == "all" and stored["queue"] != TOTAL_QUEUE
    assert chart is not None
    assert len(hours) == 7 * 24
    assert [(t, v) for t, v in chart.past] == [(t, float(v)) for t, v in hours]
    assert [p for _, p, _, _ in chart.forecast] == stored["point"]
    assert [lo for _, _, lo, _ in chart.forecast] == stored["lower"]
    assert [up for _, _, _, up in chart.forecast] == stored["upper"]
    assert chart.forecast[0][0] == stored["made_at"] + timedelta(hours=1)
    assert chart.level == stored["level"]

    shape = geometry(chart)
    band = [tuple(map(float, p.split(","))) for p in shape.band.split()]
    assert len(band) == 2 * len(chart.forecast)
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in band)
    assert shape.y_max == max([v for _, v in chart.past] + stored["upper"])

    page = html(replace(report, chart=chart))
    assert '<polygon class="band"' in page and '<polyline class="past"' in page
    assert '<polyline class="forecast"' in page and "No backlog chart" not in page


def test_no_chart_without_history(report: Report) -> None:  # noqa: F811
    """The command on a source the daemon never polled: no chart, and the page says why."""
    assert report.chart is None
    assert "No backlog chart" in html(report)
