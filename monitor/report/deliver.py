"""Sending the report: e-mail over SMTP (STARTTLS, SSL or plain; optional login) and the
configured webhook receivers (signed like every notification)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerting.notifiers.base import Notifier
from monitor.report import mail
from monitor.report.build import Report
from monitor.report.config import SmtpDelivery
from monitor.report.render import csv_files, html, markdown, queue_row
from monitor.report.slack import REPORT_EVENT, full_report_note

EVENT = REPORT_EVENT


def subject(report: Report) -> str:
    o = report.overall
    net = "n/a" if o.net is None else f"{o.net:+d}"
    return (
        f"Backlog report {report.source} {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}:"
        f" {o.open_now} open, net {net}"
    )


def email_payload(report: Report, link: str | None = None) -> dict[str, Any]:
    """What the outbox keeps for the e-mail: the webhook payload, the subject, the page
    and the CSV files (the e-mail is rebuilt from it when it is sent)."""
    return {
        **payload(report, link),
        "subject": subject(report),
        "html": html(report),
        "csv": csv_files(report),
    }


def send_email(report: Report, email: SmtpDelivery, link: str | None = None) -> None:
    """Deliver by SMTP now. Raises ``smtplib.SMTPException`` or ``OSError`` on failure."""
    key = report_key(report.source, report.end)
    mail.send(email, mail.message(email_payload(report, link), email, key))


def payload(
    report: Report, link: str | None = None, emailed_to: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The webhook body: the summary and every figure of the queues' CSV; ``full_report``
    says where the page and the CSVs are (Slack shows it)."""
    return {
        "type": EVENT,
        "source": report.source,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "summary": markdown(report),
        "overall": queue_row(report.overall),
        "queues": [queue_row(q) for q in report.queues],
        "aged": [t.__dict__ for t in report.aged],
        "full_report": full_report_note(link, emailed_to),
    }


def report_key(source: str, end: datetime) -> str:
    """The report's idempotency key: one per source and period end."""
    return "rpt_" + hashlib.sha256(f"{source}|{end.isoformat()}".encode()).hexdigest()[:32]


def post_webhooks(
    report: Report,
    notifiers: Mapping[str, Notifier],
    names: tuple[str, ...],
    now: datetime,
    body_of: dict[str, Any] | None = None,
) -> None:
    """Post the report to each named receiver (``NotifierError`` on failure)."""
    body = json.dumps(body_of or payload(report), sort_keys=True).encode()
    key = report_key(report.source, report.end)
    for name in names:
        notifiers[name].send(key, EVENT, body, now)
