"""The demo's history, written the way the demo writes it: ``backfill`` from its ticket store.

The packaged ServiceNow incidents go into an in-memory SQLite ticket store brought to
``until`` (``ReplayedTicketStore``); the demo's source reads it, and
:func:`monitor.backfill.backfill_source` writes the hourly rollups of the days before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from collectors.sql import SqlCollector
from monitor import backfill
from monitor.demo.run import ZONE, demo_settings
from monitor.demo.ticketstore import ReplayedTicketStore, load_incidents


def backfill_demo(
    store: sa.Engine, until: datetime, days: int, source: str = "servicenow-total"
) -> backfill.Result:
    """Rollups of ``source`` (the demo's, written as ``source``) for ``days`` before the
    whole hour ``until``: queue ``all`` and the source's total."""
    tickets = ReplayedTicketStore("sqlite://", load_incidents())
    try:
        tickets.advance(until.astimezone(ZONE).replace(tzinfo=None))
        config = next(
            s for s in demo_settings(Path("unused")).sources if s.name == "servicenow-total"
        )
        collector = SqlCollector(config, engine=tickets.engine)
        return backfill.backfill_source(
            store, collector, source, until - timedelta(days=days), until
        )
    finally:
        tickets.close()
