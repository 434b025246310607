"""Hourly figures reconstructed in the database (``SqlCollector.hourly``, the backfill's
read) equal pandas over the same real tickets and edge cases, on the three engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

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


def test_epoch_columns(db_url: str, incidents: pd.DataFrame) -> None:
    """Creation and resolution stored as Unix seconds (``epoch_fields``): the same hours."""
    tickets = ticket_table(incidents)
    epoch = sa.Table(
        "epoch_tickets",
        sa.MetaData(),
        sa.Column("number", sa.String(20), primary_key=True),
        sa.Column("assignment_group", sa.String(40)),
        sa.Column("state", sa.String(20)),
        sa.Column("opened_at", sa.BigInteger),
        sa.Column("resolved_at", sa.BigInteger),
    )

    def seconds(value: Any) -> int | None:
        return None if pd.isna(value) else int(value.tz_localize("UTC").timestamp())

    engine = sa.create_engine(db_url)
    try:
        epoch.create(engine)
        with engine.begin() as conn:
            conn.execute(
                epoch.insert(),
                [
                    {
                        "number": r.number,
                        "assignment_group": r.assignment_group,
                        "state": r.state,
                        "opened_at": seconds(r.opened_at),
                        "resolved_at": seconds(r.resolved_at),
                    }
                    for r in tickets.itertuples(index=False)
                ],
            )
    finally:
        engine.dispose()
    mapping = {
        **DEFAULT_MAPPING,
        "table": "epoch_tickets",
        "priority": None,
        "epoch_fields": ["created_at", "resolved_at"],
    }
    reader = SqlCollector(
        SqlSourceConfig.model_validate(
            {
                "kind": "sql",
                "name": "tickets",
                "url": db_url,
                "mapping": {k: v for k, v in mapping.items() if v is not None},
            }
        )
    )
    try:
        got = as_dict(reader.hourly(START, END))
    finally:
        reader.close()
    assert got == asof.hourly(frame_of(tickets, "UTC"), hours(START, END))


def test_chunks_read_in_turn_carry_the_backlog(db_url: str, incidents: pd.DataFrame) -> None:
    """A backfill's chunks, read one after the other, start from the backlog carried from
    the chunk before (nothing before them is read again); a chunk that does not follow
    the last one read (a gap, or hours already read) reads its own start. Exact either way."""
    tickets = ticket_table(incidents)
    load(db_url, tickets)
    want = asof.hourly(frame_of(tickets, SAO_PAULO), hours(START, END))
    reader = collector(db_url, SAO_PAULO)
    step = timedelta(hours=7)
    try:
        got: list[HourFigures] = []
        at = START
        while at < END:
            got += reader.hourly(at, min(at + step, END))
            at += step
        gap = START + 3 * step + timedelta(hours=2)
        again = reader.hourly(gap, gap + step)
    finally:
        reader.close()
    assert as_dict(got) == want
    assert as_dict(again) == {k: v for k, v in want.items() if gap <= k[1] < gap + step}
