"""Render the weekly report of the real ServiceNow tickets and take its picture.

    python scripts/report_picture.py docs/img/report.png

The tickets are the ServiceNow log as it stood on 1 April 2016 (tests/data, loaded as
tests/collectors/workload_data.py does); the report covers the week before. Headless
Chromium takes the screenshot of the page as written (``report.html``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.loader import load_settings
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
        settings = load_settings(text=settings_text(root))
        report = make_report(settings, None, timedelta(days=7), AS_OF)
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


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/report.png"))
