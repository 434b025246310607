"""A SQLite ticket store filled from the packaged ServiceNow fixture, advanced in simulated time.

At simulated instant ``t`` the store holds every incident opened before ``t``; those
resolved before ``t`` have status ``resolved`` and their ``resolved_at``, the others
are ``open``. That is the state the help desk's own database had at ``t``.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import threading
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

FIXTURE = "servicenow_incidents.csv.gz"

metadata = sa.MetaData()
tickets = sa.Table(
    "incidents",
    metadata,
    sa.Column("number", sa.String(20), primary_key=True),
    sa.Column("assignment_group", sa.String(40), nullable=False),
    sa.Column("organisation", sa.String(40), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("assigned_to", sa.String(40)),
    sa.Index("ix_incidents_state_group", "state", "assignment_group", "opened_at"),
    sa.Index("ix_incidents_opened", "opened_at"),
    sa.Index("ix_incidents_resolved", "resolved_at"),
)


@dataclass(frozen=True)
class Incident:
    """One incident of the fixture (naive local timestamps, as in the source)."""

    number: str
    group: str
    priority: str
    opened_at: datetime
    resolved_at: datetime | None
    assignee: str | None = None
    """The last agent the incident was assigned to (None: never assigned)."""


def load_incidents(path: Path | None = None) -> list[Incident]:
    """Read the packaged fixture (or ``path``)."""
    source = path or resources.files("monitor.demo").joinpath("data", FIXTURE)
    with source.open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        return [
            Incident(
                number=row["ticket_id"],
                group=row["queue"],
                priority=row["priority"],
                opened_at=datetime.fromisoformat(row["opened_at"]),
                resolved_at=datetime.fromisoformat(row["resolved_at"])
                if row["resolved_at"]
                else None,
                assignee=row.get("assignee") or None,
            )
            for row in csv.DictReader(text)
        ]


class ReplayedTicketStore:
    """Applies the incidents' openings and resolutions up to a simulated instant."""

    def __init__(self, url: str, incidents: list[Incident]) -> None:
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)
        self._events = sorted(
            [(i.opened_at, 0, i) for i in incidents]
            + [(i.resolved_at, 1, i) for i in incidents if i.resolved_at is not None],
            key=lambda e: (e[0], e[1], e[2].number),
        )
        self._times = [e[0] for e in self._events]
        self._applied = 0
        self._lock = threading.Lock()

    def advance(self, until: datetime) -> int:
        """Apply every opening and resolution strictly before ``until``; returns how many."""
        with self._lock:
            end = bisect.bisect_left(self._times, until, lo=self._applied)
            batch = self._events[self._applied : end]
            if not batch:
                return 0
            with self.engine.begin() as conn:
                opened = [e[2] for e in batch if e[1] == 0]
                if opened:
                    conn.execute(tickets.insert(), [_row(i) for i in opened])
                for _, _, incident in (e for e in batch if e[1] == 1):
                    conn.execute(
                        tickets.update()
                        .where(tickets.c.number == incident.number)
                        .values(state="resolved", resolved_at=incident.resolved_at)
                    )
            self._applied = end
            return len(batch)

    def close(self) -> None:
        self.engine.dispose()


def _row(incident: Incident) -> dict[str, object]:
    return {
        "number": incident.number,
        "assignment_group": incident.group,
        "organisation": "all",
        "priority": incident.priority,
        "state": "open",
        "opened_at": incident.opened_at,
        "resolved_at": None,
        "assigned_to": incident.assignee,
    }
