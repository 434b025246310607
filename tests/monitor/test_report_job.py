"""The scheduled weekly report: its period ends, once per period through the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.report.job import period_end, run_report_job
from monitor.scheduler import daemon_jobs
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF
from tests.fakes import FakeClock, RecordingReceiver
from tests.monitor.test_daemon import SECRET, verify
from tests.monitor.test_report import settings_text

FRIDAY = 4


class TestPeriodEnd:
    def test_the_latest_boundary_at_or_before_now(self) -> None:
        """Friday 00:00 UTC: itself, half an hour later, and a week earlier just before."""
        assert period_end(AS_OF, FRIDAY, 0) == AS_OF
        assert period_end(AS_OF + timedelta(minutes=30), FRIDAY, 0) == AS_OF
        assert period_end(AS_OF - timedelta(minutes=1), FRIDAY, 0) == AS_OF - timedelta(days=7)

    def test_monday_morning(self) -> None:
        """Monday 08:00 UTC, seen from Friday 1 April 2016: Monday 28 March."""
        assert period_end(AS_OF, 0, 8) == datetime(2016, 3, 28, 8, tzinfo=UTC)


@pytest.fixture
def daemon(tmp_path: Path, store: sa.Engine, receiver: RecordingReceiver) -> Iterator[Daemon]:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/tickets.db")
    data.load(engine, AS_OF.replace(tzinfo=None))
    engine.dispose()
    extra = f"""  schedule: weekly
  weekday: {FRIDAY}
  hour: 0
  webhooks: [team]
receivers:
  - kind: webhook
    name: team
    url: {receiver.url!r}
    secret: {SECRET!r}
delivery:
  allowed_destinations: ["127.0.0.1"]  # the test's receiver is on loopback
"""
    settings = load_settings(text=settings_text(tmp_path, extra))
    d = Daemon(settings, clock=FakeClock(AS_OF + timedelta(minutes=30)), engine=store)
    d.migrate()
    yield d
    d.close()


class TestReportJob:
    def test_enqueued_once_per_period_and_delivered_signed(
        self, daemon: Daemon, receiver: RecordingReceiver
    ) -> None:
        """The job adds the week's report once (a second run, as after a restart, adds
        nothing); the delivery job posts it signed."""
        assert "report" in [job.id for job in daemon_jobs(daemon)]
        assert run_report_job(daemon) == 1
        assert run_report_job(daemon) == 0
        daemon.deliver()
        [received] = receiver.received
        body = verify(received)
        assert body["type"] == "report.weekly"
        assert body["end"] == AS_OF.isoformat()
        assert body["start"] == (AS_OF - timedelta(days=7)).isoformat()

    def test_schedule_without_webhooks_is_an_error(self, tmp_path: Path) -> None:
        """A scheduled report with nowhere to go is a configuration error at report."""
        with pytest.raises(ConfigError) as err:
            load_settings(text=settings_text(tmp_path, "  schedule: weekly\n"))
        assert [p for p, _ in err.value.problems] == ["report"]
