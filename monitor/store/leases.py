"""The leader lease in the store: renew or take it, and check a fence inside a transaction.

Every function runs in the caller's transaction. :func:`hold` locks the lease row
(``SELECT ... FOR UPDATE``) and :func:`check_fence` share-locks it (``FOR SHARE``), so a
takeover waits for a write made under the old generation to commit, and a write
checked after a takeover sees the new generation and is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from monitor.errors import LeaseLost
from monitor.lease import Decision, Fence, Lease, decide
from monitor.store.schema import leases


def database_now(conn: sa.Connection) -> datetime:
    """The store's clock: the same for every replica, whatever their own clocks say."""
    value = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def hold(conn: sa.Connection, name: str, me: str, now: datetime, ttl: timedelta) -> Decision:
    """Renew, take or follow the lease ``name`` at ``now``; the row is written if it changed."""
    # Replicas starting together both find no row: the insert of the second waits for
    # the first's commit and then does nothing, and both go on to lock the one row.
    conn.execute(
        postgresql.insert(leases)
        .values(name=name, holder="", generation=0, acquired_at=now, expires_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = (
        conn.execute(sa.select(leases).where(leases.c.name == name).with_for_update())
        .mappings()
        .one()
    )
    decision = decide(_lease(row), name, me, now, ttl)
    if decision.write is not None:
        conn.execute(
            leases.update()
            .where(leases.c.name == name)
            .values(
                holder=decision.write.holder,
                generation=decision.write.generation,
                acquired_at=decision.write.acquired_at,
                expires_at=decision.write.expires_at,
            )
        )
    return decision


def check_fence(conn: sa.Connection, fence: Fence) -> None:
    """Hold the lease row shared until commit; raise unless ``fence`` is still current.

    Raises:
        LeaseLost: another replica took the lease (a newer generation) since ``fence``.
    """
    if not fence.checked:
        return
    row = conn.execute(
        sa.select(leases.c.holder, leases.c.generation)
        .where(leases.c.name == fence.name)
        .with_for_update(read=True)
    ).one_or_none()
    if row is None or (row.holder, row.generation) != (fence.holder, fence.generation):
        held = "nobody" if row is None else f"{row.holder} (generation {row.generation})"
        raise LeaseLost(
            f"the lease {fence.name!r} of generation {fence.generation} is no longer "
            f"this replica's: {held} holds it"
        )


def release(conn: sa.Connection, fence: Fence, now: datetime) -> bool:
    """End ``fence``'s lease at ``now`` (a graceful stop), so a follower takes it at once."""
    if not fence.checked:
        return False
    result = conn.execute(
        leases.update()
        .where(
            leases.c.name == fence.name,
            leases.c.holder == fence.holder,
            leases.c.generation == fence.generation,
        )
        .values(expires_at=now)
    )
    return bool(result.rowcount)


def current(conn: sa.Connection, name: str) -> Lease | None:
    """The lease row ``name`` as stored (None before any replica took it)."""
    row = conn.execute(sa.select(leases).where(leases.c.name == name)).mappings().one_or_none()
    return None if row is None else _lease(row)


def _lease(row: sa.RowMapping) -> Lease | None:
    """The row as a lease; None for the placeholder :func:`hold` inserts (generation 0)."""
    if not row["generation"]:
        return None
    return Lease(
        row["name"], row["holder"], row["generation"], row["acquired_at"], row["expires_at"]
    )
