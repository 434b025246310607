"""The weekly report on the real ServiceNow tickets: figures against pandas, the files,
the command, and delivery by webhook and SMTP (a local server started here)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from config.loader import load_settings
from config.settings import Settings
from monitor.report.build import Report
from monitor.report.command import deliver, make_report
from monitor.report.render import write_report
from tests.collectors import workload_data as data
from tests.collectors.test_workload import AS_OF, NOW
from tests.conftest import require_binary
from tests.fakes import RecordingReceiver
from tests.monitor.test_daemon import SECRET, verify
from tests.processes import free_port, run_cli

PERIOD = timedelta(days=7)
START = NOW - pd.Timedelta(PERIOD)


def settings_text(tmp: Path, extra: str = "") -> str:
    return f"""
store:
  url: "sqlite:///{tmp}/history.db"
sources:
  - kind: sql
    name: servicenow
    url: "sqlite:///{tmp}/tickets.db"
    mapping:
      table: incidents
      id: number
      queue: assignment_group
      status: incident_state
      assignee: assigned_to
      created_at: opened_at
      resolved_at: resolved_at
      resolution_due_at: resolution_due_at
      updated_at: sys_updated_at
      category: category
      reassignments: reassignment_count
      reopens: reopen_count
      open_statuses: {list(data.OPEN_STATES)}
      history: {json.dumps(data.HISTORY)}
    workload:
      top_categories: 3
report:
  aged_list: 15
{extra}"""


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("report")
    engine = sa.create_engine(f"sqlite:///{root}/tickets.db")
    table, _ = data.load(engine, AS_OF.replace(tzinfo=None))
    engine.dispose()
    return root, table


@pytest.fixture(scope="module")
def report(tickets: tuple[Path, pd.DataFrame]) -> Report:
    root, _ = tickets
    return make_report(load_settings(text=settings_text(root)), None, PERIOD, AS_OF)


def nearest(values: pd.Series, p: int) -> float:
    ordered = sorted(values)
    return float(ordered[(len(ordered) * p + 99) // 100 - 1])


class TestReportFigures:
    def test_every_line_matches_pandas(self, tickets: Any, report: Report) -> None:
        """Created, resolved, net, resolution median/p90, SLA attainment and aging per queue
        and overall equal pandas' reading of the tickets."""
        _, table = tickets
        is_open = table["incident_state"].isin(data.OPEN_STATES)
        done = table[~is_open & (table["resolved_at"] >= START) & (table["resolved_at"] < NOW)]
        came = table[(table["opened_at"] >= START) & (table["opened_at"] < NOW)]
        took = (done["resolved_at"] - done["opened_at"]).dt.total_seconds()
        lines = {q.queue: q for q in report.queues}
        for queue in sorted(set(done["assignment_group"]) | set(came["assignment_group"])):
            line = lines[queue]
            mine = done["assignment_group"] == queue
            assert line.created == int((came["assignment_group"] == queue).sum())
            assert line.resolved == int(mine.sum())
            if mine.any():
                assert line.resolution_median_s == pytest.approx(nearest(took[mine], 50), abs=1e-3)
                assert line.resolution_p90_s == pytest.approx(nearest(took[mine], 90), abs=1e-3)
                met = (done.loc[mine, "resolved_at"] <= done.loc[mine, "resolution_due_at"]).sum()
                assert (line.sla_resolved, line.sla_met) == (int(mine.sum()), int(met))
        o = report.overall
        assert (o.created, o.resolved) == (len(came), len(done))
        assert o.net == len(came) - len(done)
        assert o.resolution_p90_s == pytest.approx(nearest(took, 90), abs=1e-3)
        open_ = table[is_open]
        age = NOW - open_["opened_at"]
        assert o.older_than == {
            f"{d}d": int((age > pd.Timedelta(days=d)).sum()) for d in (7, 14, 30)
        }
        assert o.open_now == len(open_)
        assert o.routing is not None
        assert o.routing.reopened == int((done["reopen_count"] > 0).sum())

    def test_aged_list_is_the_oldest_open_tickets(self, tickets: Any, report: Report) -> None:
        """The aged list is the 15 oldest open tickets with assignee and status."""
        _, table = tickets
        open_ = table[table["incident_state"].isin(data.OPEN_STATES)]
        oldest = open_.sort_values(["opened_at", "number"]).head(15)
        assert [(t.id, t.status, t.assignee) for t in report.aged] == [
            (r.number, r.incident_state, None if pd.isna(r.assigned_to) else r.assigned_to)
            for r in oldest.itertuples()
        ]


class TestReportFiles:
    def test_html_csv_and_markdown(self, report: Report, tmp_path: Path) -> None:
        """The page has no external resource; the CSV holds the report's numbers; the
        summary states the overall line."""
        paths = write_report(report, tmp_path)
        assert sorted(p.name for p in paths) == [
            "aged.csv",
            "categories.csv",
            "queues.csv",
            "report.html",
            "summary.md",
        ]
        page = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert "<script" not in page and "<link" not in page and "src=" not in page
        assert "<svg" in page and report.aged[0].id in page
        rows = list(csv.DictReader(io.StringIO((tmp_path / "queues.csv").read_text())))
        overall = rows[-1]
        assert overall["queue"] == "overall"
        assert int(overall["created"]) == report.overall.created
        assert int(overall["net_change"]) == report.overall.net
        assert float(overall["sla_attainment"]) == round(report.overall.sla_attainment or 0, 4)
        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert f"Open now: {report.overall.open_now}" in summary
        assert f"net change {report.overall.net:+d}" in summary

    def test_command_writes_the_files(self, tickets: Any, tmp_path: Path) -> None:
        """backlog-monitor report --config C --period 7d --out DIR exits 0 and lists them."""
        root, _ = tickets
        config = tmp_path / "config.yaml"
        config.write_text(settings_text(root), encoding="utf-8")
        out = tmp_path / "out"
        result = run_cli("report", "--config", config, "--period", "7d", "--out", out)
        assert result.returncode == 0, result.stderr
        assert (out / "report.html").exists() and str(out / "summary.md") in result.stdout

    def test_bad_period_exits_2(self, tickets: Any, tmp_path: Path) -> None:
        """A period that is not a duration is a usage error (exit 2)."""
        root, _ = tickets
        config = tmp_path / "config.yaml"
        config.write_text(settings_text(root), encoding="utf-8")
        result = run_cli("report", "--config", config, "--period", "7x", "--out", tmp_path)
        assert result.returncode == 2 and "--period" in result.stderr


class Recorder:
    """aiosmtpd handler keeping each message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((session, envelope))
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"ops", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl)."""
    openssl = require_binary("openssl", hint="apt-get install openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Recorder]]:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Recorder()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    yield port, handler
    controller.stop()


class TestDelivery:
    def test_email_over_starttls_with_login(
        self, report: Report, tickets: Any, smtp_server: Any, certificate: Any
    ) -> None:
        """The report is mailed over STARTTLS after login: summary as text, the page as
        HTML, the CSVs attached."""
        root, _ = tickets
        port, handler = smtp_server
        email = f"""
  email:
    host: 127.0.0.1
    port: {port}
    security: starttls
    ca_file: {certificate[0]}
    username: ops
    password: s3cret
    from: backlog@example.com
    to: [lead@example.com]
"""
        settings: Settings = load_settings(text=settings_text(root, email))
        assert deliver(settings, report, AS_OF) == ["email to lead@example.com"]
        [(session, envelope)] = handler.messages
        assert session.authenticated and envelope.rcpt_tos == ["lead@example.com"]
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert str(mail["Subject"]).strip().startswith("Backlog report servicenow")
        parts = {p.get_content_type(): p for p in mail.walk()}
        assert (
            f"Open now: {report.overall.open_now}"
            in parts["text/plain"].get_payload(decode=True).decode()
        )
        assert "<svg" in parts["text/html"].get_payload(decode=True).decode()
        names = sorted(p.get_filename() for p in mail.walk() if p.get_filename())
        assert names == ["aged.csv", "categories.csv", "queues.csv"]

    def test_webhook_gets_the_signed_report(
        self, report: Report, tickets: Any, receiver: RecordingReceiver
    ) -> None:
        """The configured webhook receiver gets the report, signed like notifications."""
        root, _ = tickets
        extra = f"""  webhooks: [ops]
receivers:
  - kind: webhook
    name: ops
    url: {receiver.url!r}
    secret: {SECRET!r}
delivery:
  allowed_destinations: ["127.0.0.1"]  # the test's receiver is on loopback
"""
        settings: Settings = load_settings(text=settings_text(root, extra))
        # the signature's timestamp is the sending time, which the verifier checks
        assert deliver(settings, report, datetime.now(UTC)) == ["webhook ops"]
        body = verify(receiver.received[0])
        assert body["type"] == "report.weekly"
        assert body["overall"]["created"] == report.overall.created
        assert len(body["aged"]) == 15


def test_the_overall_line_adds_up_every_routing_figure() -> None:
    """The overall line sums each routing figure over the queues, time to first
    assignment included; a figure one queue does not record is absent overall."""
    from collectors.workload import Routing
    from monitor.report.build import QueueReport, _summed

    a = QueueReport("a", 5, 3, 2, routing=Routing(2, 1, 0, 1, assigned=2, first_assignment_s=60.0))
    b = QueueReport(
        "b", 1, 1, 3, routing=Routing(3, 2, 1, None, assigned=1, first_assignment_s=30.0)
    )
    total = _summed((a, b))
    assert total == Routing(5, 3, 1, None, assigned=3, first_assignment_s=90.0)
    assert total is not None and total.first_assignment_mean_s == 30.0
    assert _summed((QueueReport("c", 0, 0, 0),)) is None
