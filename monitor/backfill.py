"""``backfill``: the hourly rollups of the past, reconstructed from the ticket stores' times.

For each source whose collector can read its own history (:class:`HistoryReader`), the
hours of ``[now - since, now)`` that the history store has no rollup for are read in
chunks (one set-based statement per chunk, in the ticket store) and written as the
rows the daemon's own roll-up writes (one sample: the backlog at the hour's end),
marked ``backfilled``. Each chunk is committed on its own, so an interrupted backfill
resumes where it stopped; hours that already have rows (measured by the daemon, or
backfilled before) are never touched, so a second run writes nothing. Hours from the
source's oldest raw snapshot on are the daemon's (rolled up by its maintenance job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from collectors.base import HistoryReader, HourFigures
from monitor.store.schema import rollups, snapshots

HOUR = timedelta(hours=1)
BATCH = 5000
"""Rollup rows per INSERT (memory stays small whatever the chunk)."""

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called with the number of hours just done."""


@dataclass(frozen=True)
class Result:
    """What one source's backfill did."""

    source: str
    hours: int
    """Hours read from the ticket store (those missing from the history store)."""
    rows: int
    """Rollup rows written."""


def floor_hour(instant: datetime) -> datetime:
    """The start of the UTC hour of an aware instant (in UTC: zones with half-hour offsets
    would otherwise give hours the rollups never use)."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def missing_chunks(
    conn: sa.Connection, source: str, start: datetime, end: datetime, chunk: timedelta
) -> list[tuple[datetime, datetime]]:
    """The runs of hours in ``[start, end)`` without any rollup row of ``source``, before
    its oldest raw snapshot, cut into chunks of at most ``chunk``; oldest first."""
    oldest_raw = conn.execute(
        sa.select(sa.func.min(snapshots.c.ts)).where(snapshots.c.source == source)
    ).scalar()
    if oldest_raw is not None:
        end = min(end, floor_hour(oldest_raw))
    have = {
        hour
        for (hour,) in conn.execute(
            sa.select(rollups.c.hour)
            .where(rollups.c.source == source, rollups.c.hour >= start, rollups.c.hour < end)
            .distinct()
        )
    }
    out: list[tuple[datetime, datetime]] = []
    hour = start
    while hour < end:
        if hour in have:
            hour += HOUR
            continue
        first = hour
        while hour < end and hour not in have and hour - first < chunk:
            hour += HOUR
        out.append((first, hour))
    return out


def rollup_rows(source: str, figures: Iterable[HourFigures]) -> list[dict[str, Any]]:
    """The rollup rows of reconstructed hours: one sample, the backlog at the hour's end."""
    return [
        {
            "source": source,
            "queue": f.queue,
            "hour": f.hour,
            "samples": 1,
            "open_avg": float(f.open_end),
            "open_min": f.open_end,
            "open_max": f.open_end,
            "open_last": f.open_end,
            "created": f.created,
            "resolved": f.resolved,
            "oldest_age_max_s": None,
            "backfilled": True,
        }
        for f in figures
    ]


def backfill_source(
    engine: sa.Engine,
    reader: HistoryReader,
    source: str,
    start: datetime,
    end: datetime,
    chunk: timedelta = timedelta(days=30),
    progress: Progress | None = None,
) -> Result:
    """Fill the hours of ``[start, end)`` (whole UTC hours) missing for ``source``."""
    with engine.connect() as conn:
        chunks = missing_chunks(conn, source, start, end, chunk)
    hours = rows = 0
    for first, stop in chunks:
        figures = reader.hourly(first, stop)
        with engine.begin() as conn:
            rows += _insert_missing(conn, source, first, stop, figures)
        del figures
        done = int((stop - first) / HOUR)
        hours += done
        if progress is not None:
            progress(done)
    return Result(source, hours, rows)


def _insert_missing(
    conn: sa.Connection, source: str, first: datetime, stop: datetime, figures: list[HourFigures]
) -> int:
    """Insert the rows whose (queue, hour) has none yet (the daemon may have rolled up an
    hour meanwhile: its measurement stays), :data:`BATCH` at a time."""
    taken = {
        (queue, hour)
        for queue, hour in conn.execute(
            sa.select(rollups.c.queue, rollups.c.hour).where(
                rollups.c.source == source, rollups.c.hour >= first, rollups.c.hour < stop
            )
        )
    }
    fresh = [f for f in figures if (f.queue, f.hour) not in taken]
    insert = RowInsert(conn.dialect)
    for at in range(0, len(fresh), BATCH):
        insert.run(conn, source, fresh[at : at + BATCH])
    return len(fresh)


class RowInsert:
    """The rollup rows of :func:`rollup_rows`, inserted as the statement's own compiled
    text through the driver's ``executemany``, each value converted by its column type's
    bind processor for the dialect (as ``conn.execute(rollups.insert(), rows)`` does),
    the hour once per hour rather than once per row: SQLAlchemy's per-row parameter
    handling took about as long as the database's insert on a million rows."""

    def __init__(self, dialect: sa.Dialect) -> None:
        compiled = rollups.insert().compile(dialect=dialect, column_keys=list(COLUMNS))
        self.sql = str(compiled)
        self.order: list[str] | None = (
            list(compiled.positiontup or ()) if compiled.positional else None
        )
        self.process = {
            name: rollups.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in COLUMNS
        }
        self.hours: dict[datetime, Any] = {}

    def value(self, name: str, raw: Any) -> Any:
        process = self.process[name]
        return raw if process is None else process(raw)

    def run(self, conn: sa.Connection, source: str, figures: list[HourFigures]) -> None:
        src, one, none, true = (
            self.value(name, raw)
            for name, raw in (
                ("source", source),
                ("samples", 1),
                ("oldest_age_max_s", None),
                ("backfilled", True),
            )
        )
        hour = self._hour
        # in the order of COLUMNS
        rows = [
            [
                src,
                f.queue,
                hour(f.hour),
                one,
                float(f.open_end),
                f.open_end,
                f.open_end,
                f.open_end,
                f.created,
                f.resolved,
                none,
                true,
            ]
            for f in figures
        ]
        for i in VARYING:
            process = self.process[COLUMNS[i]]
            if process is not None:
                for row in rows:
                    row[i] = process(row[i])
        if self.order is None:
            conn.exec_driver_sql(self.sql, [dict(zip(COLUMNS, r, strict=True)) for r in rows])
        elif self.order == list(COLUMNS):
            conn.exec_driver_sql(self.sql, [tuple(r) for r in rows])
        else:
            at = [COLUMNS.index(k) for k in self.order]
            conn.exec_driver_sql(self.sql, [tuple(r[i] for i in at) for r in rows])

    def _hour(self, hour: datetime) -> Any:
        if hour not in self.hours:
            self.hours[hour] = self.value("hour", hour)
        return self.hours[hour]


COLUMNS = (
    "source",
    "queue",
    "hour",
    "samples",
    "open_avg",
    "open_min",
    "open_max",
    "open_last",
    "created",
    "resolved",
    "oldest_age_max_s",
    "backfilled",
)
"""The rollup columns a backfilled row sets (every one: no server default is relied on)."""
VARYING = (1, 4, 5, 6, 7, 8, 9)
"""The positions in :data:`COLUMNS` of those that change from row to row, besides the
hour (queue, the four open figures, created, resolved)."""


def span(now: datetime, since: timedelta) -> tuple[datetime, datetime]:
    """The whole hours to backfill: from ``since`` before the current hour to it."""
    end = floor_hour(now)
    return end - since, end


def planned_hours(engine: sa.Engine, source: str, start: datetime, end: datetime) -> int:
    """How many hours a backfill of ``source`` would read (for a progress bar)."""
    with engine.connect() as conn:
        chunks = missing_chunks(conn, source, start, end, end - start + HOUR)
    return sum(int((b - a) / HOUR) for a, b in chunks)


def readers(collectors: dict[str, Any], only: str | None = None) -> dict[str, HistoryReader]:
    """The collectors that can reconstruct their past (all of them, or source ``only``)."""
    return {
        name: c
        for name, c in collectors.items()
        if (only is None or name == only) and callable(getattr(c, "hourly", None))
    }
