"""A local mirror of a hosted store's open tickets, for figures it has no count for.

Some stores count open tickets per queue but cannot say how old they are (age quantiles,
the oldest ticket) without listing them all. A mirror keeps each open ticket's queue and
creation time in the daemon's own store (tables ``mirror_tickets`` and ``mirror_state``,
revision 0009), fed by the store's changed-since listing: :meth:`Mirror.apply` stores
a batch of changes and the cursor the next listing starts from, in one transaction.
A change older than the one stored for a ticket is ignored (listings overlap and
arrive out of order); a ticket that closes, or is deleted, leaves the mirror.

A feed can miss changes (a deletion it does not list, a merge, a change made while the
cursor was wrong), so :meth:`Mirror.reconcile` compares the mirror's open count per
queue with the store's own totals on a schedule and keeps the difference, the *drift*
(mirror minus store), with when it was measured. Drift is what an operator alerts on:
above a threshold, the mirror's age figures are not to be trusted and the mirror should
be rebuilt (:meth:`Mirror.reset`, then a full listing).

A first build that lists every open ticket can be too large for one poll (Help Scout at
200,000 open conversations: 8,000 pages). :meth:`Mirror.apply_build` stores one slice of
such a build and where the next slice resumes (:meth:`Mirror.build_from`), so a build is
spread over polls and survives a restart; the feed keeps the mirror current meanwhile
(the newer change wins, so the order of the two does not matter). The resume point is a
second ``mirror_state`` row, ``source + BUILD``, with a position for stores that page
by position (``build_position``, revision 0011); collectors/hosted/build.py drives it.

Generic: a store plugs in by mapping its listing's items to :class:`Change`. A collector
that keeps a mirror implements :class:`MirrorUser`; the daemon hands it a
:class:`MirrorStore` (this module's :class:`Mirror` over its own store) before the first
poll. Wired into Udesk (collectors/udesk.py, ``mirror:``) and Fxiaoke
(collectors/fxiaoke.py, ``mirror:``), both as a :class:`RotatingMirror`
(:meth:`Mirror.created_times`, :meth:`Mirror.record_drift`), and Help Scout
(collectors/helpscoutmirror.py, ``mirror:``, which also builds in slices).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from collectors.hosted.figures import age_cutoffs
from monitor.store.schema import mirror_state, mirror_tickets

BATCH = 500
"""Tickets read or written per statement."""

BUILD = "\x1fbuild"
"""Appended to a source's name: the ``mirror_state`` row of its unfinished build."""


@dataclass(frozen=True)
class Change:
    """One ticket as the changed-since listing shows it."""

    ticket_id: str
    queue: str
    created_at: datetime
    modified_at: datetime
    open: bool


@dataclass(frozen=True)
class Ages:
    """A queue's open tickets by age, from the mirror."""

    count: int
    oldest_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Aging:
    """A queue's aging figures from its open tickets' creation times."""

    older_than: dict[str, int]
    oldest_created: datetime | None
    quantiles: dict[str, float] | None
    """Median (``"0.5"``) and 90th-percentile (``"0.9"``) age in seconds; None: none open."""


def aging(created: Iterable[datetime], end: datetime) -> Aging:
    """Older than each of :data:`~collectors.base.AGE_BUCKETS` (created before
    :func:`~collectors.hosted.figures.age_cutoffs`), the oldest, and nearest-rank quantiles."""
    times = sorted(created)
    older = {name: bisect_left(times, cutoff) for name, cutoff in age_cutoffs(end).items()}
    ages = sorted((end - t).total_seconds() for t in times)
    found = {"0.5": quantile(ages, 0.5), "0.9": quantile(ages, 0.9)}
    quantiles = {k: v for k, v in found.items() if v is not None} or None
    return Aging(older, times[0] if times else None, quantiles)


def drift(mirrored: Mapping[str, int], totals: Mapping[str, int]) -> dict[str, int]:
    """Mirror minus store, per queue either side knows (0 where they agree)."""
    return {q: mirrored.get(q, 0) - totals.get(q, 0) for q in sorted({*mirrored, *totals})}


def quantile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ascending values (nearest rank, no interpolation)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 1))  # ceil(n * q), at least 1
    return sorted_values[int(rank) - 1]


class MirrorStore(Protocol):
    """What a collector needs of its mirror (one source's, in the daemon's store)."""

    def cursor(self) -> datetime | None: ...

    def apply(self, changes: Iterable[Change], cursor: datetime) -> int: ...

    def ages(self, now: datetime) -> dict[str, Ages]: ...

    def reconcile(self, totals: Mapping[str, int], now: datetime) -> dict[str, int]: ...

    def reset(self) -> None: ...


@runtime_checkable
class RotatingMirror(MirrorStore, Protocol):
    """What Fxiaoke, Udesk and Help Scout need of their mirror beyond :class:`MirrorStore`
    (:class:`Mirror` has it): creation times per queue key, and a drift kept per queue as
    each is checked."""

    def created_times(self) -> dict[str, list[datetime]]: ...

    def record_drift(self, measured: Mapping[str, int], now: datetime) -> dict[str, int]: ...

    def last_drift(self) -> tuple[datetime | None, dict[str, int]]: ...


@runtime_checkable
class ResumableMirror(RotatingMirror, Protocol):
    """A mirror whose first build may be spread over polls (:class:`Mirror` has it)."""

    def open_counts(self) -> dict[str, int]: ...

    def build_from(self) -> datetime | None: ...

    def build_position(self) -> dict[str, Any] | None: ...

    def apply_build(
        self,
        changes: Iterable[Change],
        resume_at: datetime | None,
        position: Mapping[str, Any] | None = None,
    ) -> int: ...


@runtime_checkable
class MirrorUser(Protocol):
    """A collector that keeps a mirror when its configuration asks for one."""

    @property
    def wants_mirror(self) -> bool:
        """True when the source's configuration turns the mirror on."""
        ...

    @property
    def mirror_drift(self) -> Mapping[str, int] | None:
        """The drift per queue at the latest reconciliation (None before the first)."""
        ...

    def attach_mirror(self, mirror: MirrorStore) -> None:
        """Use ``mirror`` from the next poll on."""
        ...


class Mirror:
    """One source's mirror in the daemon's store."""

    def __init__(self, engine: sa.Engine, source: str) -> None:
        self.engine = engine
        self.source = source

    def cursor(self) -> datetime | None:
        """Where the next changed-since listing starts (None: never read, list all)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(mirror_state.c.cursor).where(mirror_state.c.source == self.source)
            ).scalar()

    def apply(self, changes: Iterable[Change], cursor: datetime) -> int:
        """Store ``changes`` and move the cursor to ``cursor`` (never backwards), in one
        transaction. Returns how many changes were newer than what the mirror held."""
        with self.engine.begin() as conn:
            applied = self._store(conn, changes)
            self._move_cursor(conn, cursor)
        return applied

    def build_from(self) -> datetime | None:
        """Where an unfinished build resumes (None: no build under way)."""
        s = mirror_state.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.cursor).where(s.source == self.source + BUILD)
            ).one_or_none()
        return None if row is None else row.cursor

    def build_position(self) -> dict[str, Any] | None:
        """The position an unfinished build stored with its resume point (None: no build
        under way, or one that stores none)."""
        s = mirror_state.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.build_position).where(s.source == self.source + BUILD)
            ).one_or_none()
        return None if row is None or row.build_position is None else dict(row.build_position)

    def apply_build(
        self,
        changes: Iterable[Change],
        resume_at: datetime | None,
        position: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a slice of a build's ``changes`` (as :meth:`apply`, the cursor left
        alone) and where the build resumes (``resume_at``, with a store's ``position``
        when it pages by position), ``None`` when it is done, in one transaction. A first
        call with no changes starts a build."""
        s = mirror_state.c
        key = self.source + BUILD
        with self.engine.begin() as conn:
            applied = self._store(conn, changes)
            conn.execute(mirror_state.delete().where(s.source == key))
            if resume_at is not None:
                values = {"source": key, "cursor": resume_at}
                if position is not None:
                    values["build_position"] = dict(position)
                conn.execute(mirror_state.insert().values(values))
        return applied

    def _store(self, conn: sa.Connection, changes: Iterable[Change]) -> int:
        """Keep each ticket's newest change; the open ones stay, the others leave."""
        latest: dict[str, Change] = {}
        for change in changes:
            held = latest.get(change.ticket_id)
            if held is None or change.modified_at >= held.modified_at:
                latest[change.ticket_id] = change
        t = mirror_tickets.c
        ids = list(latest)
        stored: dict[str, datetime] = {}
        for i in range(0, len(ids), BATCH):
            rows = conn.execute(
                sa.select(t.ticket_id, t.modified_at).where(
                    t.source == self.source, t.ticket_id.in_(ids[i : i + BATCH])
                )
            )
            stored.update({r.ticket_id: r.modified_at for r in rows})
        fresh = [
            c
            for c in latest.values()
            if c.ticket_id not in stored or c.modified_at >= stored[c.ticket_id]
        ]
        gone = [c.ticket_id for c in fresh if c.ticket_id in stored]
        for i in range(0, len(gone), BATCH):
            conn.execute(
                mirror_tickets.delete().where(
                    t.source == self.source, t.ticket_id.in_(gone[i : i + BATCH])
                )
            )
        rows_in = [
            {
                "source": self.source,
                "ticket_id": c.ticket_id,
                "queue": c.queue,
                "created_at": c.created_at,
                "modified_at": c.modified_at,
            }
            for c in fresh
            if c.open
        ]
        for i in range(0, len(rows_in), BATCH):
            conn.execute(mirror_tickets.insert(), rows_in[i : i + BATCH])
        return len(fresh)

    def _move_cursor(self, conn: sa.Connection, cursor: datetime) -> None:
        s = mirror_state.c
        held = conn.execute(sa.select(s.cursor).where(s.source == self.source)).one_or_none()
        if held is None:
            conn.execute(mirror_state.insert().values(source=self.source, cursor=cursor))
        elif held.cursor is None or cursor > held.cursor:
            conn.execute(mirror_state.update().where(s.source == self.source).values(cursor=cursor))

    def open_counts(self) -> dict[str, int]:
        """Open tickets per queue in the mirror."""
        t = mirror_tickets.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.queue, sa.func.count()).where(t.source == self.source).group_by(t.queue)
            )
            return {r[0]: int(r[1]) for r in rows}

    def ages(self, now: datetime) -> dict[str, Ages]:
        """Each queue's open tickets by age at ``now`` (oldest, median, 90th percentile)."""
        t = mirror_tickets.c
        by_queue: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.queue, t.created_at)
                .where(t.source == self.source)
                .order_by(t.queue, t.created_at.desc())
            )
            for queue, created in rows:
                by_queue.setdefault(queue, []).append((now - created).total_seconds())
        return {
            q: Ages(len(v), v[-1], quantile(v, 0.5), quantile(v, 0.9)) for q, v in by_queue.items()
        }

    def created_times(self) -> dict[str, list[datetime]]:
        """Each queue's open tickets' creation times, oldest first (for figures that
        :meth:`ages` does not give, or queues a collector groups further)."""
        t = mirror_tickets.c
        out: dict[str, list[datetime]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.queue, t.created_at)
                .where(t.source == self.source)
                .order_by(t.queue, t.created_at)
            )
            for queue, created in rows:
                out.setdefault(queue, []).append(created)
        return out

    def reconcile(self, totals: Mapping[str, int], now: datetime) -> dict[str, int]:
        """Compare with the store's own open totals per queue; keep and return the drift."""
        found = drift(self.open_counts(), totals)
        s = mirror_state.c
        with self.engine.begin() as conn:
            held = conn.execute(sa.select(s.source).where(s.source == self.source)).first()
            values = {"reconciled_at": now, "drift": found}
            if held is None:
                conn.execute(mirror_state.insert().values(source=self.source, **values))
            else:
                conn.execute(mirror_state.update().where(s.source == self.source).values(values))
        return found

    def record_drift(self, measured: Mapping[str, int], now: datetime) -> dict[str, int]:
        """Keep the drift of the queues just reconciled, merged into the drift held for the
        others (a rotating schedule checks a few queues at a time); returns the whole."""
        s = mirror_state.c
        with self.engine.begin() as conn:
            held = conn.execute(sa.select(s.drift).where(s.source == self.source)).one_or_none()
            found = {**dict((held.drift if held is not None else None) or {}), **measured}
            found = {q: int(found[q]) for q in sorted(found)}
            values = {"reconciled_at": now, "drift": found}
            if held is None:
                conn.execute(mirror_state.insert().values(source=self.source, **values))
            else:
                conn.execute(mirror_state.update().where(s.source == self.source).values(values))
        return found

    def last_drift(self) -> tuple[datetime | None, dict[str, int]]:
        """When the mirror was last reconciled, and the drift then."""
        s = mirror_state.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.reconciled_at, s.drift).where(s.source == self.source)
            ).one_or_none()
        if row is None:
            return None, {}
        return row.reconciled_at, dict(row.drift or {})

    def reset(self) -> None:
        """Forget the mirror (and any build under way): the next listing starts from
        nothing (a rebuild)."""
        with self.engine.begin() as conn:
            conn.execute(mirror_tickets.delete().where(mirror_tickets.c.source == self.source))
            conn.execute(
                mirror_state.delete().where(
                    mirror_state.c.source.in_([self.source, self.source + BUILD])
                )
            )
