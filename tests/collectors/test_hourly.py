"""Hourly figures reconstructed in the database (``SqlCollector.hourly``, the backfill's
read) equal pandas over the same real tickets and edge cases, on the three engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from collectors.base import HourFigures
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors import asof
from tests.collectors.conftest import DEFAULT_MAPPING
from tests.collectors.test_as_of import SAO_PAULO, frame_of, load, ticket_table

START = datetime(2016, 4, 27, 18, tzinfo=UTC)
END = datetime(2016, 5, 3, 6, tzinfo=UTC)


def collector(url: str, zone: str) -> SqlCollector:
    mapping = {**DEFAULT_MAPPING, "table": "as_of_tickets", "timezone": zone}
    return SqlCollector(
        SqlSourceConfig.model_validate(
            {"kind": "sql", "name": "tickets", "url": url, "mapping": mapping}
        )
    )


def as_dict(rows: list[HourFigures]) -> dict[tuple[str, datetime], tuple[int, int, int]]:
    out = {(r.queue, r.hour): (r.open_end, r.created, r.resolved) for r in rows}
    assert len(out) == len(rows), "one row per queue and hour"
    return out


def hours(start: datetime, end: datetime) -> list[pd.Timestamp]:
    return list(pd.date_range(start, end, freq="h", inclusive="left"))


@pytest.mark.parametrize("zone", ["UTC", SAO_PAULO])
def test_hourly_equals_pandas(db_url: str, incidents: pd.DataFrame, zone: str) -> None:
    tickets = ticket_table(incidents)
    load(db_url, tickets)
    reader = collector(db_url, zone)
    try:
        got = as_dict(reader.hourly(START, END))
    finally:
        reader.close()
    want = asof.hourly(frame_of(tickets, zone), hours(START, END))
    assert got == want
    assert sum(v[2] for k, v in want.items() if k[0] == "Edge") == 1  # EDGE2's resolution


def test_summer_time_change_is_exact(db_url: str, incidents: pd.DataFrame) -> None:
    """Across São Paulo's change of 21 February 2016 (naive local times), hour by hour.

    The store holds the real tickets shifted back three weeks, so the change falls
    among them; hours are spans of their own around it."""
    shifted = ticket_table(incidents)
    for column in ("opened_at", "resolved_at"):
        shifted[column] = shifted[column] - pd.Timedelta(days=21)
    load(db_url, shifted)
    start, end = datetime(2016, 2, 20, 12, tzinfo=UTC), datetime(2016, 2, 22, 12, tzinfo=UTC)
    reader = collector(db_url, SAO_PAULO)
    try:
        got = as_dict(reader.hourly(start, end))
    finally:
        reader.close()
    frame = frame_of(shifted, SAO_PAULO)
    want = asof.hourly(frame, hours(start, end))
    assert got == want


def test_spans_split_at_offset_changes() -> None:
    reader = collector("sqlite://", SAO_PAULO)
    start = datetime(2016, 2, 21, 0, tzinfo=UTC)
    spans = reader._spans(start, start + timedelta(hours=6), epoch=False)
    # the change is at 02:00 UTC (midnight local, -02:00 -> -03:00): the hour before
    # it ends at the same local time it starts at, a span of its own
    hour = timedelta(hours=1)
    assert spans == [(start, 1), (start + hour, 1), (start + 2 * hour, 4)]
