"""The scheduled report by e-mail and Slack through the outbox: sent once, retried when
the SMTP server refuses for now, rendered as Block Kit for Slack."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from config.loader import load_settings
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.report.build import Report
from monitor.report.deliver import payload
from monitor.report.job import run_report_job
from monitor.report.mail import REPORT_EMAIL, notifier_error
from monitor.report.slack import render_report
from monitor.store.schema import outbox
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF
from tests.fakes import FakeClock, RecordingReceiver
from tests.monitor.test_report import (  # noqa: F401 (fixtures)
    Recorder,
    certificate,
    report,
    settings_text,
    smtp_server,
    tickets,
)

FRIDAY = 4


def email_section(port: int, ca: Path) -> str:
    return f"""  email:
    host: 127.0.0.1
    port: {port}
    security: starttls
    ca_file: {ca}
    username: ops
    password: s3cret
    from: backlog@example.com
    to: [lead@example.com]
"""


@pytest.fixture
def slack() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver(status=200)
    yield server
    server.close()


def scheduled(tmp: Path, store: sa.Engine, extra: str) -> Daemon:
    engine = sa.create_engine(f"sqlite:///{tmp}/tickets.db")
    data.load(engine, AS_OF.replace(tzinfo=None))
    engine.dispose()
    head = f"""  schedule: weekly
  weekday: {FRIDAY}
  hour: 0
"""
    settings = load_settings(text=settings_text(tmp, head + extra))
    d = Daemon(settings, clock=FakeClock(AS_OF + timedelta(minutes=30)), engine=store)
    d.migrate()
    return d


def outbox_rows(d: Daemon) -> list[Any]:
    with d.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.receiver)).all())


class TestScheduledEmailAndSlack:
    def test_mailed_and_posted_once_through_the_outbox(
        self,
        tmp_path: Path,
        store: sa.Engine,
        smtp_server: tuple[int, Recorder],  # noqa: F811
        certificate: tuple[Path, Path],  # noqa: F811
        slack: RecordingReceiver,
    ) -> None:
        """One outbox message for Slack and one for the e-mail; the delivery job sends
        both; running the job again (a restart) adds nothing and sends nothing."""
        port, handler = smtp_server
        extra = f"""  webhooks: [chat]
  link: https://reports.example/servicenow/latest.html
{email_section(port, certificate[0])}receivers:
  - kind: slack
    name: chat
    url: {slack.url!r}
delivery:
  allowed_destinations: ["127.0.0.1"]  # the test's receivers are on loopback
"""
        d = scheduled(tmp_path, store, extra)
        try:
            assert run_report_job(d) == 2
            assert [r.receiver for r in outbox_rows(d)] == ["chat", REPORT_EMAIL]
            d.deliver()
            assert run_report_job(d) == 0
            d.deliver()
            rows = outbox_rows(d)
        finally:
            d.close()
        assert len(rows) == 2 and all(r.delivered_at is not None for r in rows)
        [(session, envelope)] = handler.messages
        assert session.authenticated and envelope.rcpt_tos == ["lead@example.com"]
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert (
            str(mail["Subject"])
            .strip()
            .startswith("Backlog report servicenow 2016-03-25 to 2016-04-01")
        )
        assert str(mail["Message-ID"]).endswith("@backlog-monitor.invalid>")
        names = sorted(p.get_filename() for p in mail.walk() if p.get_filename())
        assert names == ["aged.csv", "categories.csv", "queues.csv"]
        html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
        assert "<svg" in html_part.get_content()
        [posted] = slack.received
        message = posted.json
        assert message["blocks"][0]["type"] == "header"
        assert message["blocks"][0]["text"]["text"].startswith("Backlog report: servicenow")
        assert "https://reports.example/servicenow/latest.html" in json.dumps(message["blocks"])

    def test_an_smtp_refusal_for_now_is_retried(
        self,
        tmp_path: Path,
        store: sa.Engine,
        smtp_server: tuple[int, Recorder],  # noqa: F811
        certificate: tuple[Path, Path],  # noqa: F811
    ) -> None:
        """The server answers 451 (try later): the message stays in the outbox with an
        attempt and a next attempt time, and nothing was accepted."""
        port, handler = smtp_server

        async def busy(server: Any, session: Any, envelope: Any) -> str:
            return "451 4.3.0 try again later"

        handler.handle_DATA = busy  # type: ignore[method-assign]
        d = scheduled(tmp_path, store, email_section(port, certificate[0]))
        try:
            assert run_report_job(d) == 1
            assert d.deliver() == 0
            [row] = outbox_rows(d)
        finally:
            d.close()
        assert row.receiver == REPORT_EMAIL and row.delivered_at is None
        assert row.attempts == 1 and row.status == "pending" and "smtp: 451" in row.last_error

    def test_email_only_schedule_is_valid(self, tmp_path: Path) -> None:
        """A scheduled report may go by e-mail alone."""
        text = settings_text(tmp_path, "  schedule: weekly\n" + email_section(25, tmp_path))
        assert load_settings(text=text).report.email is not None

    def test_report_to_a_paging_receiver_is_an_error(self, tmp_path: Path) -> None:
        extra = """  webhooks: [pager]
receivers:
  - kind: pagerduty
    name: pager
    routing_key: abc
"""
        with pytest.raises(ConfigError) as err:
            load_settings(text=settings_text(tmp_path, extra))
        assert ("report -> webhooks -> 0") in [p for p, _ in err.value.problems]


class TestSmtpErrors:
    def test_4xx_is_retried_5xx_is_final(self) -> None:
        assert notifier_error(smtplib.SMTPDataError(451, b"later")).retryable
        assert not notifier_error(smtplib.SMTPDataError(554, b"no")).retryable
        assert not notifier_error(smtplib.SMTPAuthenticationError(535, b"bad")).retryable
        refused = smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"unknown")})
        assert not notifier_error(refused).retryable
        assert notifier_error(ConnectionRefusedError()).retryable


class TestSlackRendering:
    def test_summary_as_blocks(self, report: Report) -> None:  # noqa: F811
        """Header from the title, one section per part, bullets, the full-report note;
        every text within Slack's limits."""
        body = payload(report, None, ("lead@example.com",))
        message = render_report(json.loads(json.dumps(body)))
        blocks = message["blocks"]
        assert blocks[0]["text"]["text"].startswith("Backlog report: servicenow")
        sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        assert sections[0].startswith(f"• Open now: {report.overall.open_now};")
        assert "*Oldest open tickets*" in sections[-1]
        assert report.aged[0].id in sections[-1]
        assert blocks[-1] == {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "The HTML page and the CSV files were e-mailed to lead@example.com",
                }
            ],
        }
        assert len(blocks) <= 50 and all(len(s) <= 3000 for s in sections)
        assert len(blocks[0]["text"]["text"]) <= 150

    def test_escapes_control_characters(self) -> None:
        message = render_report({"summary": "# A <b> & c\n\n- x > y\n", "source": "s"})
        assert message["blocks"][0]["text"]["text"] == "A <b> & c"  # plain_text: as is
        assert message["blocks"][1]["text"]["text"] == "• x &gt; y"
