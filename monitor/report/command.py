"""``backlog-monitor report``: poll one source over the period, write the files, send them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from alerting.rules.common import ForecastView
from collectors.base import Window
from collectors.sql import SqlCollector, SqlSourceConfig
from config.settings import Settings
from monitor.report.build import Report, build_report
from monitor.report.chart import BacklogChart, read_chart
from monitor.report.deliver import payload, post_webhooks, send_email
from monitor.report.render import write_report
from monitor.store import forecasting as forecast_store


def make_report(settings: Settings, source: str | None, period: timedelta, now: datetime) -> Report:
    """The report of ``source`` (the first source when None) for ``[now - period, now)``."""
    configs = [s for s in settings.sources if source in (None, s.name)]
    if not configs:
        raise ValueError(f"no source named {source!r}")
    config = configs[0]
    if not isinstance(config, SqlSourceConfig):
        # the report's ticket-level figures (aged list, resolution times) are SQL reads
        raise ValueError(
            f"source {config.name!r} is kind {config.kind!r}; reports need a SQL source"
        )
    collector = SqlCollector(config)
    try:
        window = Window(now - period, now)
        snapshot, figures = collector.collect_report(window, settings.report.aged_list)
    finally:
        collector.close()
    views, chart = _from_store(settings.store.url, config.name, window)
    return replace(build_report(snapshot, figures, views), chart=chart)


def _from_store(
    url: str, source: str, window: Window
) -> tuple[dict[tuple[str, str], ForecastView], BacklogChart | None]:
    """The history store's latest forecasts and the backlog chart, or none when the store
    cannot be read."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return forecast_store.views(conn), read_chart(conn, source, window.start, window.end)
    except sa.exc.SQLAlchemyError:
        return {}, None
    finally:
        engine.dispose()


def deliver(settings: Settings, report: Report, now: datetime) -> list[str]:
    """Send the report to every configured destination; returns what it was sent to."""
    from monitor.daemon import build_notifiers

    config, sent = settings.report, []
    emailed_to = config.email.to if config.email is not None else ()
    if config.webhooks:
        body = payload(report, config.link, emailed_to)
        post_webhooks(report, build_notifiers(settings), config.webhooks, now, body)
        sent += [f"webhook {name}" for name in config.webhooks]
    if config.email is not None:
        send_email(report, config.email, config.link)
        sent.append(f"email to {', '.join(config.email.to)}")
    return sent


def run_report(
    settings: Settings, source: str | None, period: timedelta, out: Path, send: bool, now: datetime
) -> tuple[list[Path], list[str]]:
    """Build, write and (with ``send``) deliver the report."""
    report = make_report(settings, source, period, now)
    paths = write_report(report, out)
    return paths, deliver(settings, report, now) if send else []
