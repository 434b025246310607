"""The outbox: notifications written with the state change that caused them, delivered later."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from alerting.notifications import Notification
from monitor.errors import LeaseLost
from monitor.lease import SOLE, Fence
from monitor.store.leases import check_fence
from monitor.store.schema import outbox

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class OutboxMessage:
    """One stored notification."""

    id: int
    receiver: str
    idempotency_key: str
    event: str
    payload: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime


def enqueue(conn: sa.Connection, notifications: Iterable[Notification], now: datetime) -> int:
    """Add notifications; one already present (same idempotency key) is not added twice."""
    items = list(notifications)
    if not items:
        return 0
    keys = [n.idempotency_key for n in items]
    present = set(
        conn.execute(
            sa.select(outbox.c.idempotency_key).where(outbox.c.idempotency_key.in_(keys))
        ).scalars()
    )
    rows = [
        {
            "receiver": n.receiver,
            "idempotency_key": n.idempotency_key,
            "event": n.event,
            "payload": json.dumps(n.payload, separators=(",", ":"), sort_keys=True),
            "created_at": now,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for n in items
        if n.idempotency_key not in present
    ]
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)


def heads(conn: sa.Connection, now: datetime, limit: int) -> list[OutboxMessage]:
    """The oldest pending message of each receiver, if it is due.

    Delivery is in order per receiver: a message waits while an older one is retried.
    """
    oldest = (
        sa.select(sa.func.min(outbox.c.id))
        .where(outbox.c.status == PENDING)
        .group_by(outbox.c.receiver)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(outbox)
        .where(outbox.c.id.in_(oldest), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    ).mappings()
    return [
        OutboxMessage(
            id=r["id"],
            receiver=r["receiver"],
            idempotency_key=r["idempotency_key"],
            event=r["event"],
            payload=r["payload"],
            created_at=r["created_at"],
            attempts=r["attempts"],
            next_attempt_at=r["next_attempt_at"],
        )
        for r in rows
    ]


def claim(conn: sa.Connection, message_id: int, fence: Fence = SOLE) -> None:
    """Claim a pending message for sending under ``fence`` (before the request goes out).

    A claim made under an older lease generation is taken over; a claim under a newer
    one wins.

    Raises:
        LeaseLost: ``fence`` is stale, or a newer leader claimed the message.
    """
    check_fence(conn, fence)
    if not fence.checked:
        return
    claimed = conn.execute(
        outbox.update()
        .where(
            outbox.c.id == message_id,
            outbox.c.status == PENDING,
            sa.or_(
                outbox.c.claim_generation.is_(None),
                outbox.c.claim_generation <= fence.generation,
            ),
        )
        .values(claim_generation=fence.generation)
    ).rowcount
    if not claimed:
        raise LeaseLost(f"message {message_id} is no longer this leader's to send")


def _commit(conn: sa.Connection, message_id: int, fence: Fence, values: dict[str, object]) -> None:
    """Update a message after sending, only while ``fence`` holds the lease and its claim."""
    check_fence(conn, fence)
    where = outbox.c.id == message_id
    if fence.checked:
        where = sa.and_(where, outbox.c.claim_generation == fence.generation)
    updated = conn.execute(outbox.update().where(where).values(**values)).rowcount
    if fence.checked and not updated:
        raise LeaseLost(f"a newer leader claimed message {message_id} meanwhile")


def mark_delivered(
    conn: sa.Connection, message_id: int, now: datetime, fence: Fence = SOLE
) -> None:
    """Record a delivery; refused (LeaseLost) when ``fence`` no longer holds the lease."""
    _commit(
        conn,
        message_id,
        fence,
        {
            "status": DELIVERED,
            "delivered_at": now,
            "attempts": outbox.c.attempts + 1,
            "last_error": None,
        },
    )


def mark_failed(
    conn: sa.Connection,
    message_id: int,
    error: str,
    next_at: datetime | None,
    fence: Fence = SOLE,
) -> None:
    """Record a failed attempt: retry at ``next_at``, or dead-letter it when None."""
    values: dict[str, object] = {"attempts": outbox.c.attempts + 1, "last_error": error}
    if next_at is None:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = next_at
    _commit(conn, message_id, fence, values)


def pending_counts(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """Messages per ``(receiver, status)``."""
    rows = conn.execute(
        sa.select(outbox.c.receiver, outbox.c.status, sa.func.count()).group_by(
            outbox.c.receiver, outbox.c.status
        )
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def unknown_receivers(conn: sa.Connection, known: set[str]) -> set[str]:
    """Receivers with pending messages that the configuration no longer names."""
    rows = conn.execute(
        sa.select(outbox.c.receiver).where(outbox.c.status == PENDING).distinct()
    ).scalars()
    return set(rows) - known


def listing(
    conn: sa.Connection, status: str | None = None, limit: int = 100
) -> list[dict[str, object]]:
    """Messages (newest first), optionally of one status, without their payloads."""
    query = (
        sa.select(
            outbox.c.id,
            outbox.c.receiver,
            outbox.c.idempotency_key,
            outbox.c.event,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.created_at,
            outbox.c.next_attempt_at,
            outbox.c.last_error,
        )
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [dict(r) for r in conn.execute(query).mappings()]


def replay(conn: sa.Connection, ids: list[int] | None) -> int:
    """Put dead letters back in the queue (all of them when ``ids`` is None), due at once."""
    query = outbox.update().where(outbox.c.status == DEAD)
    if ids is not None:
        query = query.where(outbox.c.id.in_(ids))
    return int(
        conn.execute(
            query.values(
                status=PENDING, attempts=0, next_attempt_at=outbox.c.created_at, last_error=None
            )
        ).rowcount
    )
