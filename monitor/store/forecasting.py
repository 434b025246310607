"""Forecasts in the store: the latest per queue, written by the forecast job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.rules import ForecastView
from monitor.store.schema import forecasts


def save_forecast(conn: sa.Connection, source: str, queue: str, **values: Any) -> None:
    """Replace the queue's forecast."""
    conn.execute(forecasts.delete().where(forecasts.c.source == source, forecasts.c.queue == queue))
    conn.execute(forecasts.insert().values(source=source, queue=queue, **values))


def load_forecasts(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every stored forecast row."""
    return [dict(r) for r in conn.execute(sa.select(forecasts)).mappings()]


def views(conn: sa.Connection) -> dict[tuple[str, str], ForecastView]:
    """What the forecast rule kind reads, per ``(source, queue)``."""
    out = {}
    for row in load_forecasts(conn):
        detail = row.get("detail") or {}
        made_at: datetime = row["made_at"]
        out[(row["source"], row["queue"])] = ForecastView(
            made_at=made_at,
            point=list(row["point"]),
            upper=list(row["upper"]),
            model=row["model"],
            status=row["status"],
            breach_probability=dict(detail.get("breach", {})),
            breach_model=detail.get("breach_model"),
            arrivals=list(detail.get("arrivals") or ()),
        )
    return out
