"""A notification far larger than 64 KiB (a report e-mail with its page and CSVs) is
stored and read back whole on every store backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from alerting.notifications import Notification
from monitor.store import outbox


def test_a_payload_of_several_mebibytes_round_trips(engine: sa.Engine) -> None:
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    page = "<tr><td>INC0000001</td><td>Billing</td></tr>\n" * 60_000  # ~2.6 MB
    note = Notification("report/email", "report-big", "report", {"html": page})
    with engine.begin() as conn:
        assert outbox.enqueue(conn, [note], now) == 1
    with engine.begin() as conn:
        (message,) = outbox.heads(conn, now, limit=10)
    assert json.loads(message.payload) == {"html": page}
