"""The scheduled weekly report: once per period end, posted through the outbox.

The job runs hourly. It finds the latest period end (``report.weekday`` at
``report.hour`` UTC) and, unless the outbox already holds that report (its idempotency
key names the source and the period end, and outbox rows are kept), builds it and
enqueues, in one transaction, one message per webhook receiver (webhook or Slack: the
Slack notifier renders it as Block Kit) and one for ``report.email`` (receiver
``report/email``, the page and CSVs in the message); the delivery job sends them with the
usual retries. A restart therefore never enqueues a week's report twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alerting.notifications import Notification
from monitor.report.command import make_report
from monitor.report.deliver import EVENT, email_payload, payload, report_key
from monitor.report.mail import REPORT_EMAIL
from monitor.store import outbox as outbox_store
from monitor.store.schema import outbox

if TYPE_CHECKING:
    from monitor.daemon import Daemon


def period_end(now: datetime, weekday: int, hour: int) -> datetime:
    """The latest instant at or before ``now`` that is ``weekday`` (0 Monday) at ``hour``:00
    UTC."""
    utc = now.astimezone(UTC)
    day = utc.replace(hour=hour, minute=0, second=0, microsecond=0)
    day -= timedelta(days=(utc.weekday() - weekday) % 7)
    return day if day <= utc else day - timedelta(days=7)


def run_report_job(daemon: Daemon) -> int:
    """Enqueue this period's report for the webhook receivers and the e-mail (as the
    receiver ``report/email``); returns messages added."""
    if daemon.leadership.fence() is None:
        return 0  # with replicas, only the leader reports (as only it sends)
    settings = daemon.settings
    config = settings.report
    source = config.source or settings.sources[0].name
    end = period_end(daemon.clock(), config.weekday, config.hour)
    key = report_key(source, end)
    with daemon.engine.connect() as conn:
        done = conn.execute(
            sa.select(sa.func.count()).where(outbox.c.idempotency_key.like(f"{key}%"))
        ).scalar()
    if done:
        return 0
    report = make_report(settings, source, config.period, end)
    emailed_to = config.email.to if config.email is not None else ()
    body = payload(report, config.link, emailed_to)
    notes = [Notification(name, f"{key}:{name}", EVENT, body) for name in config.webhooks]
    if config.email is not None:
        mail_body = email_payload(report, config.link)
        notes.append(Notification(REPORT_EMAIL, f"{key}:{REPORT_EMAIL}", EVENT, mail_body))
    with daemon.engine.begin() as conn:
        return outbox_store.enqueue(conn, notes, daemon.clock())
