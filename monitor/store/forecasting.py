"""Forecasts and forecast engine states in the store, written by the forecast job."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from alerting.rules import ForecastView
from forecasts.codec import FORMAT, READABLE, StateFormatError, decode, encode
from forecasts.engine import EngineState
from monitor.store.history import Row
from monitor.store.rows import dicts, update_or_insert
from monitor.store.schema import forecast_states, forecasts, rollups

log = logging.getLogger(__name__)
Key = tuple[str, str]
CHUNK = 200
"""Queues per ``IN`` list when reading several queues' rollups."""


def save_forecast(conn: sa.Connection, source: str, queue: str, **values: Any) -> None:
    """Replace the queue's forecast."""
    conn.execute(forecasts.delete().where(forecasts.c.source == source, forecasts.c.queue == queue))
    conn.execute(forecasts.insert().values(source=source, queue=queue, **values))


def save_forecasts(conn: sa.Connection, rows: Mapping[Key, Mapping[str, Any]]) -> None:
    """Replace the forecasts of several queues (one statement per ``CHUNK`` queues)."""
    keys = list(rows)
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        pair = sa.tuple_(forecasts.c.source, forecasts.c.queue)
        conn.execute(forecasts.delete().where(pair.in_(chunk)))
        values = [{"source": s, "queue": q, **rows[(s, q)]} for s, q in chunk]
        conn.execute(forecasts.insert(), values)


def load_forecasts(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every stored forecast row."""
    return [dict(r) for r in conn.execute(sa.select(forecasts)).mappings()]


def view_of(row: Mapping[str, Any]) -> ForecastView:
    """What the forecast rule kind reads of one forecasts-table row."""
    detail = row.get("detail") or {}
    made_at: datetime = row["made_at"]
    return ForecastView(
        made_at=made_at,
        point=list(row["point"]),
        upper=list(row["upper"]),
        model=row["model"],
        status=row["status"],
        breach_probability=dict(detail.get("breach", {})),
        breach_model=detail.get("breach_model"),
        arrivals=list(detail.get("arrivals") or ()),
        observed=tuple(math.nan if v is None else float(v) for v in detail.get("observed") or ()),
        rises=tuple(float(v) for v in detail.get("rises") or ()),
    )


VIEW_COLUMNS = ("source", "queue", "made_at", "point", "upper", "model", "status", "detail")
"""The forecasts-table columns :func:`view_of` reads (the evaluate job reads them every
tick: the JSON of the other columns is not decoded)."""


def views(conn: sa.Connection) -> dict[tuple[str, str], ForecastView]:
    """What the forecast rule kind reads, per ``(source, queue)``."""
    rows = dicts(conn.execute(sa.select(*[forecasts.c[name] for name in VIEW_COLUMNS])))
    return {(row["source"], row["queue"]): view_of(row) for row in rows}


def save_state(conn: sa.Connection, key: Key, state: EngineState, settings: str) -> None:
    """Replace the queue's saved engine state (``settings``: the engine's fingerprint)."""
    values = {
        "format": FORMAT,
        "settings": settings,
        "last_hour": datetime.fromtimestamp(state.last_hour * 3600, UTC),
        "state": encode(state),
        "saved_at": datetime.now(UTC),
    }
    update_or_insert(conn, forecast_states, {"source": key[0], "queue": key[1]}, values)


def load_states(conn: sa.Connection, settings: str) -> dict[Key, EngineState]:
    """Every saved state of a format this version reads, made by these engine settings.

    An older format still read (:data:`forecasts.codec.READABLE`) is migrated; others
    (an older format, changed settings, an unreadable blob) are skipped and
    logged: those queues start afresh rather than resume from a state that no longer
    fits.
    """
    out: dict[Key, EngineState] = {}
    for row in conn.execute(sa.select(forecast_states)).mappings():
        key = (row["source"], row["queue"])
        if row["format"] not in READABLE or row["settings"] != settings:
            log.info("forecast state of %s/%s is outdated; starting afresh", *key)
            continue
        try:
            out[key] = decode(bytes(row["state"]))
        except StateFormatError as err:
            log.warning("forecast state of %s/%s unreadable (%s); starting afresh", *key, err)
    return out


COLUMNS = ("source", "queue", "hour", "open_last", "created", "resolved")
"""The rollup columns the forecast job reads."""


def rollups_of(
    conn: sa.Connection, keys: Sequence[Key] | None, start: datetime, end: datetime
) -> dict[Key, list[Row]]:
    """Hourly rollups with ``start <= hour < end`` per queue (all queues when ``keys`` is
    None), oldest first; only the columns the forecast job reads."""
    columns = [rollups.c[name] for name in COLUMNS]
    chunks = [None] if keys is None else [keys[i : i + CHUNK] for i in range(0, len(keys), CHUNK)]
    out: dict[Key, list[Row]] = defaultdict(list)
    for chunk in chunks:
        query = sa.select(*columns).where(rollups.c.hour >= start, rollups.c.hour < end)
        if chunk is not None:
            query = query.where(sa.tuple_(rollups.c.source, rollups.c.queue).in_(chunk))
        for row in conn.execute(query.order_by(rollups.c.hour)).mappings():
            out[(row["source"], row["queue"])].append(dict(row))
    return dict(out)


def backfilled_hours(conn: sa.Connection, start: datetime, end: datetime) -> dict[Key, int]:
    """Per queue, the hours of ``[start, end)`` whose rollup ``backfill`` reconstructed."""
    query = (
        sa.select(rollups.c.source, rollups.c.queue, sa.func.count())
        .where(rollups.c.backfilled, rollups.c.hour >= start, rollups.c.hour < end)
        .group_by(rollups.c.source, rollups.c.queue)
    )
    return {(source, queue): int(n) for source, queue, n in conn.execute(query)}
