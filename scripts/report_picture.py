"""Render the weekly report of the real ServiceNow tickets and take its picture.

    python scripts/report_picture.py docs/img/report.png

The tickets are the ServiceNow log as it stood on 1 April 2016 (tests/data, loaded as
tests/collectors/workload_data.py does); the report covers the week before. The backlog
chart is the daemon's: the history store is filled as ``backlog-monitor backfill`` fills
it (four weeks of hourly rollups read from the tickets by the same collector), then the
daemon's forecast job forecasts the source's total (``forecasts.match: {queue:
__total__}``) at the report's end, and ``make_report`` reads both from the store, as
``backlog-monitor report`` does. Headless Chromium takes the screenshot of the page as
written (``report.html``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import TOTAL_QUEUE
from collectors.sql import SqlCollector, SqlSourceConfig
from config.loader import load_settings
from monitor.backfill import backfill_source
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.report.command import make_report
from monitor.report.render import write_report
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF
from tests.monitor.test_report import settings_text


def main(picture: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("install chromium (Debian's chromium package)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = sa.create_engine(f"sqlite:///{root}/tickets.db")
        data.load(engine, AS_OF.replace(tzinfo=None))
        engine.dispose()
        forecasts = f"forecasts: {{match: {{queue: {TOTAL_QUEUE}}}}}"
        settings = load_settings(text=settings_text(root, forecasts))
        history(settings)
        report = make_report(settings, None, timedelta(days=7), AS_OF)
        if report.chart is None or not report.chart.forecast:
            raise SystemExit("no backlog chart with a forecast: the picture would not show it")
        write_report(report, root / "out")
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={root / 'profile'}",
                "--hide-scrollbars",
                "--window-size=1500,1400",
                f"--screenshot={picture.resolve()}",
                (root / "out" / "report.html").as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(picture)


def history(settings: Any) -> None:
    """Four weeks of hourly rollups of the source (as ``backfill`` writes them) and the
    forecast job's forecast of its total at ``AS_OF``, in the settings' history store."""
    store = sa.create_engine(settings.store.url)
    daemon = Daemon(settings, clock=FakeClock(AS_OF), collectors={}, engine=store)
    try:
        daemon.migrate()
        config = settings.sources[0]
        assert isinstance(config, SqlSourceConfig)
        collector = SqlCollector(config)
        try:
            backfill_source(store, collector, config.name, AS_OF - timedelta(days=28), AS_OF)
        finally:
            collector.close()
        if daemon.forecast() < 1:
            raise SystemExit("the forecast job stored no forecast")
    finally:
        daemon.close()
        store.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/report.png"))
