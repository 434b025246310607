"""Alert instances in the store: loaded whole on start, written with their notifications."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from alerting.state import AlertInstance, AlertState
from monitor.store.schema import alert_instances

_FIELDS = (
    "active_since",
    "fired_at",
    "resolved_at",
    "keep_firing_since",
    "fire_value",
    "last_value",
    "last_eval_at",
    "state_reason",
)


def load_instances(conn: sa.Connection) -> dict[str, AlertInstance]:
    """Every persisted instance by fingerprint."""
    out = {}
    for row in conn.execute(sa.select(alert_instances)).mappings():
        out[row["fingerprint"]] = AlertInstance(
            fingerprint=row["fingerprint"],
            rule=row["rule"],
            labels=dict(row["labels"]),
            state=AlertState(row["state"]),
            **{f: row[f] for f in _FIELDS},
        )
    return out


def save_instances(conn: sa.Connection, instances: Iterable[AlertInstance]) -> int:
    """Insert or replace instances (by fingerprint)."""
    rows = [_row(i) for i in instances]
    if not rows:
        return 0
    fps = [r["fingerprint"] for r in rows]
    for chunk in range(0, len(fps), 500):
        part = fps[chunk : chunk + 500]
        conn.execute(alert_instances.delete().where(alert_instances.c.fingerprint.in_(part)))
    conn.execute(alert_instances.insert(), rows)
    return len(rows)


def _row(instance: AlertInstance) -> dict[str, Any]:
    return {
        "fingerprint": instance.fingerprint,
        "rule": instance.rule,
        "labels": dict(instance.labels),
        "state": instance.state.value,
        **{f: getattr(instance, f) for f in _FIELDS},
    }
