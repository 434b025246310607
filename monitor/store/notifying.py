"""Silences, aggregation groups and receiver health in the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.grouping import GroupState
from alerting.silences import Matcher, Silence
from monitor.store.rows import update_or_insert
from monitor.store.schema import notification_groups, receiver_state, silences


def save_silence(conn: sa.Connection, silence: Silence, now: datetime) -> None:
    """Insert or replace a silence."""
    conn.execute(silences.delete().where(silences.c.id == silence.id))
    conn.execute(
        silences.insert().values(
            id=silence.id,
            matchers=[asdict(m) for m in silence.matchers],
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=now,
        )
    )


def load_silences(conn: sa.Connection) -> list[Silence]:
    """Every stored silence, oldest first."""
    rows = conn.execute(sa.select(silences).order_by(silences.c.created_at)).mappings()
    return [
        Silence(
            id=r["id"],
            matchers=tuple(Matcher(**m) for m in r["matchers"]),
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            created_by=r["created_by"],
            comment=r["comment"],
        )
        for r in rows
    ]


def load_groups(conn: sa.Connection) -> dict[str, GroupState]:
    """Every open aggregation group by key."""
    return {
        r["key"]: GroupState.from_json(r["state"])
        for r in conn.execute(sa.select(notification_groups)).mappings()
    }


def save_groups(
    conn: sa.Connection, before: Mapping[str, GroupState], after: Mapping[str, GroupState]
) -> None:
    """Write changed groups and delete closed ones."""
    gone = [k for k in before if k not in after]
    if gone:
        conn.execute(notification_groups.delete().where(notification_groups.c.key.in_(gone)))
    for key, group in after.items():
        if before.get(key) == group:
            continue
        conn.execute(notification_groups.delete().where(notification_groups.c.key == key))
        conn.execute(notification_groups.insert().values(key=key, state=group.to_json()))


def receiver_health(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """Circuit-breaker and disabled state per receiver."""
    return {r["receiver"]: dict(r) for r in conn.execute(sa.select(receiver_state)).mappings()}


def set_receiver_health(conn: sa.Connection, receiver: str, **values: Any) -> None:
    """Update a receiver's breaker/disabled state, creating its row on first use."""
    update_or_insert(
        conn, receiver_state, {"receiver": receiver}, values, {"consecutive_failures": 0}
    )
