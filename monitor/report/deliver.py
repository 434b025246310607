"""Sending the report: e-mail over SMTP (STARTTLS, SSL or plain; optional login) and the
configured webhook receivers (signed like every notification)."""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from alerting.notifiers.base import Notifier
from monitor.report.build import Report
from monitor.report.config import SmtpDelivery
from monitor.report.render import csv_files, html, markdown, queue_row

EVENT = "report.weekly"


def subject(report: Report) -> str:
    o = report.overall
    net = "n/a" if o.net is None else f"{o.net:+d}"
    return (
        f"Backlog report {report.source} {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}:"
        f" {o.open_now} open, net {net}"
    )


def message(report: Report, email: SmtpDelivery) -> EmailMessage:
    """The e-mail: the Markdown summary as text, the page as HTML, the CSVs attached."""
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg["From"] = email.sender
    msg["To"] = ", ".join(email.to)
    msg.set_content(markdown(report))
    msg.add_alternative(html(report), subtype="html")
    for name, text in csv_files(report).items():
        msg.add_attachment(text.encode(), maintype="text", subtype="csv", filename=name)
    return msg


def send_email(report: Report, email: SmtpDelivery) -> None:
    """Deliver by SMTP. Raises ``smtplib.SMTPException`` or ``OSError`` on failure."""
    context = ssl.create_default_context(cafile=str(email.ca_file) if email.ca_file else None)
    timeout = email.timeout.total_seconds()
    smtp: smtplib.SMTP
    if email.security == "ssl":
        smtp = smtplib.SMTP_SSL(email.host, email.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(email.host, email.port, timeout=timeout)
    with smtp:
        if email.security == "starttls":
            smtp.starttls(context=context)
        if email.username is not None and email.password is not None:
            smtp.login(email.username, email.password.get_secret_value())
        smtp.send_message(message(report, email))


def payload(report: Report) -> dict[str, Any]:
    """The webhook body: the summary and every figure of the queues' CSV."""
    return {
        "type": EVENT,
        "source": report.source,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "summary": markdown(report),
        "overall": queue_row(report.overall),
        "queues": [queue_row(q) for q in report.queues],
        "aged": [t.__dict__ for t in report.aged],
    }


def report_key(source: str, end: datetime) -> str:
    """The report's idempotency key: one per source and period end."""
    return "rpt_" + hashlib.sha256(f"{source}|{end.isoformat()}".encode()).hexdigest()[:32]


def post_webhooks(
    report: Report, notifiers: Mapping[str, Notifier], names: tuple[str, ...], now: datetime
) -> None:
    """Post the report to each named receiver (``NotifierError`` on failure)."""
    body = json.dumps(payload(report), sort_keys=True).encode()
    key = report_key(report.source, report.end)
    for name in names:
        notifiers[name].send(key, EVENT, body, now)
