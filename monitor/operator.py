"""Operator commands on a running daemon's store: silences, dead letters, receivers.

They act on the store the configuration names, so they work whether the daemon runs or
not; the daemon sees the change at its next evaluation or delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.silences import Silence, SilenceInput, describe, expire, to_api
from monitor.store import notifying as notify_store
from monitor.store import outbox as outbox_store


def add_silence(engine: sa.Engine, body: SilenceInput, now: datetime) -> Silence:
    """Store a new silence; returns it with its id."""
    silence = body.to_silence(uuid.uuid4().hex, now)
    with engine.begin() as conn:
        notify_store.save_silence(conn, silence, now)
    return silence


def list_silences(engine: sa.Engine, now: datetime) -> list[dict[str, Any]]:
    """Every silence as the HTTP API shows it (with its state)."""
    with engine.connect() as conn:
        return [to_api(s, now) for s in notify_store.load_silences(conn)]


def expire_silence(engine: sa.Engine, silence_id: str, now: datetime) -> bool:
    """End a silence now; False when no silence has that id."""
    with engine.begin() as conn:
        found = [s for s in notify_store.load_silences(conn) if s.id == silence_id]
        if not found:
            return False
        notify_store.save_silence(conn, expire(found[0], now), now)
    return True


def silence_line(item: dict[str, Any]) -> str:
    """One CLI line per silence."""
    return (
        f"{item['id']}  {item['status']['state']:8}  until {item['endsAt']}  "
        f"{item['createdBy']}: {item['comment']}  [{describe_api(item)}]"
    )


def describe_api(item: dict[str, Any]) -> str:
    from alerting.silences import Matcher

    return describe(
        [
            Matcher(m["name"], m["value"], m["isRegex"], m.get("isEqual", True))
            for m in item["matchers"]
        ]
    )


def dead_letters(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return outbox_store.listing(conn, outbox_store.DEAD)


def replay(engine: sa.Engine, ids: list[int] | None) -> int:
    with engine.begin() as conn:
        return outbox_store.replay(conn, ids)


def enable_receiver(engine: sa.Engine, receiver: str) -> None:
    """Clear a 410 Gone and an open circuit breaker."""
    with engine.begin() as conn:
        notify_store.set_receiver_health(
            conn,
            receiver,
            disabled_at=None,
            disabled_reason=None,
            open_until=None,
            consecutive_failures=0,
        )
