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

A poll reads figures of every queue (open counts, the oldest ticket, age quantiles): read
from the tables that is the whole mirror each poll (0.6 to 0.7 s of CPU at 200,000 open
tickets, ``benchmarks/collectors/mirror_read.py``). :meth:`Mirror.created_index` keeps
instead, in memory, each queue's creation times sorted and each queue key's count
(:class:`CreatedIndex`): loaded from the tables once, then kept current by every write
this object makes (:meth:`Mirror.apply`, :meth:`Mirror.apply_build`,
:meth:`Mirror.reset`), so a poll's read costs a bisection per figure (about 1 to 6 ms of
CPU at 200,000) and its writes cost the changes they apply, whatever the mirror holds. It
assumes this object is the only writer of its source's rows (the daemon makes one
:class:`Mirror` per source); a second writer's rows are seen at the next load (a new
object, or another grouping).

Generic: a store plugs in by mapping its listing's items to :class:`Change`. A collector
that keeps a mirror implements :class:`MirrorUser`; the daemon hands it a
:class:`MirrorStore` (this module's :class:`Mirror` over its own store) before the first
poll. Wired into Udesk (collectors/udesk.py, ``mirror:``), Fxiaoke
(collectors/fxiaoke.py, ``mirror:``) and Help Scout (collectors/helpscoutmirror.py,
``mirror:``), each built in slices (:class:`ResumableMirror`), its drift kept per queue
(:meth:`Mirror.record_drift`) and its figures read from the index (:class:`IndexedMirror`,
a group per queue or mailbox).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from collectors.hosted.figures import age_cutoffs
from monitor.store.schema import mirror_state, mirror_tickets

BATCH = 500
"""Tickets read or written per statement."""

BUILD = "\x1fbuild"
"""Appended to a source's name: the ``mirror_state`` row of its unfinished build."""


Entry = tuple[str, datetime]
"""A row of the mirror as its index keeps it: queue key and creation time."""


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
    return sorted_aging(sorted(created), end)


def sorted_aging(times: Sequence[datetime], end: datetime) -> Aging:
    """:func:`aging` of creation times already sorted, oldest first (a bisection per
    figure: what :meth:`CreatedIndex.created` gives)."""
    older = {name: bisect_left(times, cutoff) for name, cutoff in age_cutoffs(end).items()}
    found = {"0.5": age_quantile(times, end, 0.5), "0.9": age_quantile(times, end, 0.9)}
    quantiles = {k: v for k, v in found.items() if v is not None} or None
    return Aging(older, times[0] if times else None, quantiles)


def age_quantile(times: Sequence[datetime], end: datetime, q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of the ages at ``end`` of creation times sorted
    oldest first: :func:`quantile` of the ages, without listing them (the youngest age
    is the newest time, so rank ``r`` of the ages is ``times[n - r]``)."""
    if not times:
        return None
    rank = max(1, -(-len(times) * q // 1))  # ceil(n * q), at least 1, as quantile()
    return (end - times[len(times) - int(rank)]).total_seconds()


def drift(mirrored: Mapping[str, int], totals: Mapping[str, int]) -> dict[str, int]:
    """Mirror minus store, per queue either side knows (0 where they agree)."""
    return {q: mirrored.get(q, 0) - totals.get(q, 0) for q in sorted({*mirrored, *totals})}


def quantile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ascending values (nearest rank, no interpolation)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 1))  # ceil(n * q), at least 1
    return sorted_values[int(rank) - 1]


class CreatedIndex:
    """The mirror's open tickets in memory: a count per queue key, and the creation times
    of each *group* of keys sorted oldest first (a collector's queue: Udesk's and
    Fxiaoke's keys are ``queue\x1fstatus``, Help Scout's are its mailboxes). ``groups``
    maps each key to its group; a key it does not name is counted but in no group."""

    def __init__(self, groups: Mapping[str, str], rows: Iterable[tuple[str, datetime]]) -> None:
        self.groups = dict(groups)
        self._counts: dict[str, int] = {}
        self._times: dict[str, list[datetime]] = {}
        self.update((), rows)

    def counts(self) -> dict[str, int]:
        """Open tickets per queue key (every key the mirror holds)."""
        return dict(self._counts)

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def created(self, group: str) -> Sequence[datetime]:
        """The group's open tickets' creation times, oldest first (read-only; valid until
        the mirror's next write)."""
        return self._times.get(group, ())

    def update(
        self, removed: Iterable[tuple[str, datetime]], added: Iterable[tuple[str, datetime]]
    ) -> None:
        """Take out ``removed`` and put in ``added`` (key, creation time) pairs. KeyError
        when a removed pair is not held (the index no longer matches the tables)."""
        for key, created in removed:
            held = self._counts.get(key, 0)
            if held <= 0:
                raise KeyError(key)
            self._counts[key] = held - 1
            if held == 1:
                del self._counts[key]
            group = self.groups.get(key)
            if group is None:
                continue
            times = self._times.get(group, [])
            at = bisect_left(times, created)
            if at == len(times) or times[at] != created:
                raise KeyError(key)
            del times[at]
            if not times:
                del self._times[group]
        fresh: dict[str, list[datetime]] = {}
        for key, created in added:
            self._counts[key] = self._counts.get(key, 0) + 1
            group = self.groups.get(key)
            if group is not None:
                fresh.setdefault(group, []).append(created)
        for group, new in fresh.items():
            times = self._times.setdefault(group, [])
            if len(new) > 16:  # a build's or a load's batch: sort once
                times.extend(new)
                times.sort()
            else:
                for created in new:
                    insort(times, created)


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
class IndexedMirror(RotatingMirror, Protocol):
    """A mirror that reads its figures from an index kept in memory (:class:`Mirror` has
    it), not from the whole of its tables each poll."""

    def created_index(self, groups: Mapping[str, str]) -> CreatedIndex: ...


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
        self._index: CreatedIndex | None = None

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
            applied, removed, added = self._store(conn, changes)
            self._move_cursor(conn, cursor)
        self._indexed(removed, added)
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
            applied, removed, added = self._store(conn, changes)
            conn.execute(mirror_state.delete().where(s.source == key))
            if resume_at is not None:
                values = {"source": key, "cursor": resume_at}
                if position is not None:
                    values["build_position"] = dict(position)
                conn.execute(mirror_state.insert().values(values))
        self._indexed(removed, added)
        return applied

    def created_index(self, groups: Mapping[str, str]) -> CreatedIndex:
        """The open tickets' counts per key and creation times per group of keys
        (``groups``: key -> group), kept in memory (see the module): read from the tables
        the first time, or when ``groups`` differs from the last call's; then current."""
        if self._index is None or self._index.groups != groups:
            t = mirror_tickets.c
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(t.queue, t.created_at).where(t.source == self.source))
                self._index = CreatedIndex(groups, ((r.queue, r.created_at) for r in rows))
        return self._index

    def _indexed(self, removed: list[Entry], added: list[Entry]) -> None:
        """A committed write's rows, taken into the index (dropped, to be read again, if
        it does not match them)."""
        if self._index is None:
            return
        try:
            self._index.update(removed, added)
        except KeyError:
            self._index = None

    def _store(
        self, conn: sa.Connection, changes: Iterable[Change]
    ) -> tuple[int, list[Entry], list[Entry]]:
        """Keep each ticket's newest change; the open ones stay, the others leave.
        Returns how many changes were applied, and the (queue, creation time) of the rows
        deleted and of those inserted."""
        latest: dict[str, Change] = {}
        for change in changes:
            held = latest.get(change.ticket_id)
            if held is None or change.modified_at >= held.modified_at:
                latest[change.ticket_id] = change
        t = mirror_tickets.c
        ids = list(latest)
        stored: dict[str, tuple[datetime, str, datetime]] = {}
        for i in range(0, len(ids), BATCH):
            rows = conn.execute(
                sa.select(t.ticket_id, t.modified_at, t.queue, t.created_at).where(
                    t.source == self.source, t.ticket_id.in_(ids[i : i + BATCH])
                )
            )
            stored.update({r.ticket_id: (r.modified_at, r.queue, r.created_at) for r in rows})
        fresh = [
            c
            for c in latest.values()
            if c.ticket_id not in stored or c.modified_at >= stored[c.ticket_id][0]
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
        removed = [stored[i][1:] for i in gone]
        # as the tables give them back: aware, in UTC
        added = [(c.queue, c.created_at.astimezone(UTC)) for c in fresh if c.open]
        return len(fresh), removed, added

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
        self._index = None  # read again (empty) at the next use
        with self.engine.begin() as conn:
            conn.execute(mirror_tickets.delete().where(mirror_tickets.c.source == self.source))
            conn.execute(
                mirror_state.delete().where(
                    mirror_state.c.source.in_([self.source, self.source + BUILD])
                )
            )
