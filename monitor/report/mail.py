"""The report by e-mail: the message, the SMTP conversation, and the outbox's notifier.

The command (``--send``) mails at once; the scheduled job enqueues the e-mail in the
outbox for the receiver :data:`REPORT_EMAIL`, which the daemon serves with
:class:`ReportEmailNotifier` (``report.email``'s settings), so a failed send is retried
with the usual backoff and a sent one is not enqueued again. SMTP has no idempotency key:
the message's ``Message-ID`` is derived from the outbox key, so the rare resend (sent,
then the daemon stopped before recording it) carries the same id and mail clients show
one message.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from typing import Any, ClassVar

from pydantic import BaseModel

from monitor.errors import NotifierError
from monitor.report.config import SmtpDelivery

REPORT_EMAIL = "report/email"
"""The outbox receiver of ``report.email`` (a configured receiver's name cannot hold ``/``)."""


def message(payload: dict[str, Any], email: SmtpDelivery, key: str) -> EmailMessage:
    """The e-mail of an e-mail payload (``deliver.email_payload``): the Markdown summary as
    text, the page as HTML, the CSVs attached."""
    msg = EmailMessage()
    msg["Subject"] = str(payload["subject"])
    msg["From"] = email.sender
    msg["To"] = ", ".join(email.to)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@backlog-monitor.invalid>"
    msg.set_content(str(payload["summary"]))
    msg.add_alternative(str(payload["html"]), subtype="html")
    for name, text in dict(payload["csv"]).items():
        msg.add_attachment(str(text).encode(), maintype="text", subtype="csv", filename=name)
    return msg


def send(email: SmtpDelivery, msg: EmailMessage) -> None:
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
        smtp.send_message(msg)


def notifier_error(err: Exception) -> NotifierError:
    """An SMTP failure as the outbox sees it: 4xx replies and network errors are retried;
    5xx replies (a refused login, sender or recipient) and certificate errors are final."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in err.recipients.values()]
        return NotifierError(
            f"smtp: recipients refused ({', '.join(map(str, codes))})",
            retryable=any(400 <= c < 500 for c in codes),
        )
    if isinstance(err, smtplib.SMTPResponseException):
        return NotifierError(f"smtp: {err.smtp_code}", retryable=400 <= err.smtp_code < 500)
    if isinstance(err, (ssl.SSLCertVerificationError, smtplib.SMTPNotSupportedError)):
        return NotifierError(f"smtp: {type(err).__name__}", retryable=False)
    return NotifierError(f"smtp: {type(err).__name__}", retryable=True)


class ReportEmailNotifier:
    """Sends the outbox's report e-mails through ``report.email``'s SMTP server."""

    kind: ClassVar[str] = "email"
    config_model: ClassVar[type[BaseModel]] = SmtpDelivery

    def __init__(self, config: SmtpDelivery) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return REPORT_EMAIL

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        msg = message(json.loads(body), self.config, key)
        try:
            send(self.config, msg)
        except (smtplib.SMTPException, OSError) as err:
            raise notifier_error(err) from None
