"""Snapshots in and series out: the history half of the store.

Functions take an open connection so the caller decides the transaction: a snapshot,
its counters and the source's watermark are written together or not at all.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from collectors.base import TOTAL_QUEUE, QueueStats, Snapshot
from collectors.workload import QueueWorkload
from monitor.store.rows import dicts, update_or_insert
from monitor.store.schema import TS, queue_counters, rollups, snapshots, source_state

Row = Mapping[str, Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceHealth:
    """What the store knows about a source's polls."""

    source: str
    watermark: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_error_reason: str | None
    consecutive_failures: int
    figures: Mapping[str, Mapping[str, Any]] | None = None
    """Per optional figure ``{"available", "mapped", "reason"}`` at the latest successful
    poll; None when the source's collector does not report them."""

    @property
    def up(self) -> bool:
        """True when the latest poll succeeded."""
        return self.last_success_at is not None and self.consecutive_failures == 0


def known_queues(conn: sa.Connection, source: str) -> set[str]:
    """Queues this source has reported before (their absence now means zero); never the
    source's total, whose absence means the collector did not compute it (no data)."""
    rows = conn.execute(sa.select(queue_counters.c.queue).where(queue_counters.c.source == source))
    return {r.queue for r in rows} - {TOTAL_QUEUE}


def record_snapshot(conn: sa.Connection, snapshot: Snapshot) -> int:
    """Store a successful poll, advance the watermark and the counters; returns rows written.

    A queue reported before but absent from this successful poll is stored as empty:
    the store answered, and that queue has nothing open. The source's total
    (``snapshot.total``) is stored like a queue named :data:`TOTAL_QUEUE` (rules select it
    by that name, the hourly rollups and forecasts treat it as a queue).
    """
    now = snapshot.as_of
    previous = conn.execute(
        sa.select(source_state.c.watermark).where(source_state.c.source == snapshot.source)
    ).scalar()
    # The clock went back (the daemon then polls an empty window): keep the watermark
    # where it was, or the next window would count [now, previous) a second time.
    watermark = previous if previous is not None and previous > now else now
    present = {q.queue for q in snapshot.queues}
    queues = list(snapshot.queues) + [
        QueueStats.empty(q) for q in sorted(known_queues(conn, snapshot.source) - present)
    ]
    if snapshot.total is not None:
        queues.append(replace(snapshot.total, queue=TOTAL_QUEUE))
    if queues:
        conn.execute(snapshots.insert(), [_snapshot_row(snapshot, q) for q in queues])
    _bump_counters(conn, snapshot.source, queues, now)
    _upsert_source(
        conn,
        snapshot.source,
        watermark=watermark,
        last_success_at=now,
        last_attempt_at=now,
        last_error=None,
        last_error_reason=None,
        consecutive_failures=0,
        figures=_figures(snapshot),
    )
    return len(queues)


def window_unclaimed(conn: sa.Connection, source: str, watermark: datetime | None) -> bool:
    """True while the source's watermark is still ``watermark``, locking it until commit.

    Replicas sharing a store all poll; the first to store a window moves the watermark
    and the others' snapshots of that window are dropped, so none is counted twice.
    """
    stored = conn.execute(
        sa.select(source_state.c.watermark).where(source_state.c.source == source).with_for_update()
    ).scalar()
    return stored == watermark


def record_failure(
    conn: sa.Connection, source: str, now: datetime, reason: str, message: str
) -> int:
    """Note a failed poll (the watermark stays); returns the consecutive failure count."""
    health = source_health(conn).get(source)
    failures = (health.consecutive_failures if health else 0) + 1
    _upsert_source(
        conn,
        source,
        last_attempt_at=now,
        last_error=message,
        last_error_reason=reason,
        consecutive_failures=failures,
    )
    return failures


def source_health(conn: sa.Connection) -> dict[str, SourceHealth]:
    """Every source's poll health, by name."""
    rows = conn.execute(sa.select(source_state)).mappings()
    return {
        r["source"]: SourceHealth(
            source=r["source"],
            watermark=r["watermark"],
            last_success_at=r["last_success_at"],
            last_attempt_at=r["last_attempt_at"],
            last_error=r["last_error"],
            last_error_reason=r["last_error_reason"],
            consecutive_failures=r["consecutive_failures"] or 0,
            figures=r["figures"],
        )
        for r in rows
    }


def series(
    conn: sa.Connection, start: datetime, end: datetime, sources: Iterable[str] | None = None
) -> dict[tuple[str, str], list[Row]]:
    """Raw snapshot rows with ``start <= ts <= end`` per ``(source, queue)``, oldest first."""
    query = sa.select(snapshots).where(snapshots.c.ts >= start, snapshots.c.ts <= end)
    if sources is not None:
        query = query.where(snapshots.c.source.in_(list(sources)))
    out: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in conn.execute(query.order_by(snapshots.c.ts, snapshots.c.id)).mappings():
        out[(row["source"], row["queue"])].append(dict(row))
    return dict(out)


class SeriesCache:
    """:func:`series` over a sliding horizon, kept in memory between calls.

    ``cache.series(conn, start, end)`` returns what ``series(conn, start, end)`` would,
    but after the first call it reads only what changed: the ids of the rows with
    ``ts >= previous end - OVERLAP`` (ints, cheap), then whole rows (JSON columns
    decoded) only for the ids not cached yet; rows older than ``start`` are dropped.
    Snapshot rows are only ever inserted and deleted, never updated, so this is exact
    as long as every row commits within ``OVERLAP`` of its ``ts`` (the ids of a
    PostgreSQL sequence may commit out of order, polls commit shortly after their
    ``as_of``).

    Safety nets, each a full reload (as on the first call):

    * the clock went back (``end`` before the previous ``end``), or ``start`` moved back
      (a longer horizon, e.g. rules with a longer window);
    * ``FULL_RELOAD`` after the previous full reload;
    * the number of rows the store holds in ``[start, end]`` (counted in the same
      statement as the ids) differs from the cache's: a row committed later than the
      overlap, or rows of the horizon deleted by another process;
    * an error while updating (the next call starts afresh).

    Rows deleted by :func:`prune` (older than the raw retention) are older than the
    horizon in any sane configuration; the cache drops those by ``ts`` itself.

    The returned mapping and lists are the caller's (fresh containers every call); the
    row dicts are shared with the cache and must not be modified. One call at a time
    (a lock serialises concurrent callers; the daemon's evaluate job never overlaps).
    """

    OVERLAP = timedelta(minutes=5)
    """How late after its ``ts`` a row may commit and still be picked up incrementally."""
    FULL_RELOAD = timedelta(hours=1)
    """At most this long (in the ``end`` clock) between two full reloads."""
    CHUNK = 900
    """Ids per ``IN (...)`` when fetching missing rows (below every backend's limit)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._ids: set[int] = set()
        self._start: datetime | None = None
        self._end: datetime | None = None
        self._loaded_at: datetime | None = None
        self._lock = threading.Lock()
        self.full_reloads = 0
        """How many full reloads so far (the first load included)."""

    def series(
        self, conn: sa.Connection, start: datetime, end: datetime
    ) -> dict[tuple[str, str], list[Row]]:
        """Snapshot rows with ``start <= ts <= end`` per ``(source, queue)``, oldest first."""
        with self._lock:
            try:
                reason = self._reload_reason(start, end)
                if reason is None and not self._update(conn, start, end):
                    reason = "the store's row count differs from the cache's"
                if reason is not None:
                    log.debug("snapshot cache: full reload (%s)", reason)
                    self._reload(conn, start, end)
            except BaseException:
                self.clear()
                raise
            self._start, self._end = start, end
            return {k: list(v) for k, v in self._rows.items()}

    def clear(self) -> None:
        """Forget everything: the next call reloads the whole horizon."""
        self._rows, self._ids = {}, set()
        self._start = self._end = self._loaded_at = None

    def _reload_reason(self, start: datetime, end: datetime) -> str | None:
        if self._end is None or self._start is None or self._loaded_at is None:
            return "first load"
        if end < self._end:
            return "the clock went back"
        if start < self._start:
            return "the horizon grew"
        if end - self._loaded_at >= self.FULL_RELOAD:
            return "periodic"
        return None

    def _reload(self, conn: sa.Connection, start: datetime, end: datetime) -> None:
        self.clear()
        query = (
            sa.select(snapshots)
            .where(snapshots.c.ts >= start, snapshots.c.ts <= end)
            .order_by(snapshots.c.ts, snapshots.c.id)
        )
        for item in dicts(conn.execute(query)):
            self._rows.setdefault((item["source"], item["queue"]), []).append(item)
            self._ids.add(item["id"])
        self._loaded_at = end
        self.full_reloads += 1

    def _update(self, conn: sa.Connection, start: datetime, end: datetime) -> bool:
        """Add the new rows, drop the old ones; False when the result may be incomplete."""
        assert self._end is not None
        since = max(start, self._end - self.OVERLAP)
        in_horizon = (
            sa.select(sa.func.count())
            .select_from(snapshots)
            .where(snapshots.c.ts >= start, snapshots.c.ts <= end)
            .scalar_subquery()
        )
        # One statement: the ids and the count come from the same snapshot of the store.
        found = conn.execute(
            sa.select(snapshots.c.id, in_horizon).where(
                snapshots.c.ts >= since, snapshots.c.ts <= end
            )
        ).all()
        # No row since ``since``: the count needs a statement of its own.
        total = found[0][1] if found else conn.execute(sa.select(in_horizon)).scalar_one()
        missing = [i for i, _ in found if i not in self._ids]
        for part in range(0, len(missing), self.CHUNK):
            query = (
                sa.select(snapshots)
                .where(snapshots.c.id.in_(missing[part : part + self.CHUNK]))
                .order_by(snapshots.c.ts, snapshots.c.id)
            )
            for item in dicts(conn.execute(query)):
                self._add(item)
        for key in list(self._rows):
            bucket = self._rows[key]
            cut = 0
            while cut < len(bucket) and bucket[cut]["ts"] < start:
                self._ids.discard(bucket[cut]["id"])
                cut += 1
            if cut:
                del bucket[:cut]
            if not bucket:
                del self._rows[key]
        return int(total) == len(self._ids)

    def _add(self, item: dict[str, Any]) -> None:
        self._ids.add(item["id"])
        bucket = self._rows.setdefault((item["source"], item["queue"]), [])
        if not bucket or (bucket[-1]["ts"], bucket[-1]["id"]) <= (item["ts"], item["id"]):
            bucket.append(item)
        else:  # a late commit: its place among the cached rows, by (ts, id)
            insort(bucket, item, key=_ts_id)


def _ts_id(row: Row) -> tuple[datetime, int]:
    return row["ts"], row["id"]


def latest(conn: sa.Connection) -> list[Row]:
    """The newest snapshot row of every ``(source, queue)``."""
    newest = (
        sa.select(snapshots.c.source, snapshots.c.queue, sa.func.max(snapshots.c.id).label("id"))
        .group_by(snapshots.c.source, snapshots.c.queue)
        .subquery()
    )
    query = sa.select(snapshots).join(newest, snapshots.c.id == newest.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def last_seen(conn: sa.Connection) -> dict[tuple[str, str], datetime]:
    """When each ``(source, queue)`` was last reported by a successful poll."""
    rows = conn.execute(
        sa.select(queue_counters.c.source, queue_counters.c.queue, queue_counters.c.last_seen)
    )
    return {(r.source, r.queue): r.last_seen for r in rows}


def counters(conn: sa.Connection) -> list[Row]:
    """Created/resolved totals per ``(source, queue)``."""
    return [dict(r) for r in conn.execute(sa.select(queue_counters)).mappings()]


def roll_up(conn: sa.Connection, since: datetime, until: datetime) -> int:
    """Recompute the hourly rollups of every hour that has raw rows in ``[since, until)``.

    The raw rows (about 120,000 at 1,000 queues with one-minute polls) are folded into
    one small accumulator per queue and hour as they are read, never held as a list:
    a list of them was the largest burst of small Python objects the daemon made (every
    10 minutes), and each burst left Python's allocator with more arenas that the
    longer-lived objects made meanwhile kept from being freed (docs/benchmarks/soak.md).
    """
    hour_start = since.replace(minute=0, second=0, microsecond=0)
    result = conn.execute(
        sa.select(*[snapshots.c[name] for name in _ROLLUP_COLUMNS])
        .where(snapshots.c.ts >= hour_start, snapshots.c.ts < until)
        .order_by(snapshots.c.ts, snapshots.c.id)
    )
    groups: dict[tuple[str, str, datetime], _Rollup] = {}
    for source, queue, ts, open_total, created, resolved, age in result:
        key = (source, queue, ts.replace(minute=0, second=0, microsecond=0))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Rollup()
        group.add(open_total, created, resolved, age)
    if groups:
        # One executemany each (a statement per queue and hour took most of the upkeep).
        conn.execute(
            _DELETE_ROLLUP,
            [{"b_source": s, "b_queue": q, "b_hour": h} for s, q, h in groups],
        )
        conn.execute(
            rollups.insert(),
            [group.row(s, q, h) for (s, q, h), group in groups.items()],
        )
    return len(groups)


class _Rollup:
    """One queue's hour of raw rows, folded in ``ts`` order (what the rollup row needs)."""

    __slots__ = ("age", "created", "last", "maximum", "minimum", "resolved", "samples", "total")

    def __init__(self) -> None:
        self.samples = 0
        self.total: Any = 0
        self.minimum: Any = None
        self.maximum: Any = None
        self.last: Any = None
        self.created: Any = None
        self.resolved: Any = None
        self.age: Any = None

    def add(self, open_total: Any, created: Any, resolved: Any, age: Any) -> None:
        self.samples += 1
        self.total += open_total  # summed in row order, as ``sum()`` of the list was
        self.minimum = open_total if self.minimum is None else min(self.minimum, open_total)
        self.maximum = open_total if self.maximum is None else max(self.maximum, open_total)
        self.last = open_total
        if created is not None:
            self.created = created if self.created is None else self.created + created
        if resolved is not None:
            self.resolved = resolved if self.resolved is None else self.resolved + resolved
        if age is not None:
            self.age = age if self.age is None else max(self.age, age)

    def row(self, source: str, queue: str, hour: datetime) -> dict[str, Any]:
        return {
            "source": source,
            "queue": queue,
            "hour": hour,
            "samples": self.samples,
            "open_avg": self.total / self.samples,
            "open_min": self.minimum,
            "open_max": self.maximum,
            "open_last": self.last,
            "created": self.created,
            "resolved": self.resolved,
            "oldest_age_max_s": self.age,
        }


_ROLLUP_COLUMNS = ("source", "queue", "ts", "open_total", "created", "resolved", "oldest_age_s")
"""The raw columns a rollup is made of (the JSON columns are not read)."""
_DELETE_ROLLUP = rollups.delete().where(
    rollups.c.source == sa.bindparam("b_source"),
    rollups.c.queue == sa.bindparam("b_queue"),
    rollups.c.hour == sa.bindparam("b_hour", type_=TS),
)


def prune(conn: sa.Connection, now: datetime, raw: timedelta, rolled: timedelta) -> int:
    """Delete raw rows older than ``raw`` and rollups older than ``rolled``."""
    removed = conn.execute(snapshots.delete().where(snapshots.c.ts < now - raw)).rowcount
    removed += conn.execute(rollups.delete().where(rollups.c.hour < now - rolled)).rowcount
    return int(removed)


def rollup_series(
    conn: sa.Connection, start: datetime, end: datetime
) -> dict[tuple[str, str], list[Row]]:
    """Hourly rollups with ``start <= hour < end`` per ``(source, queue)``, oldest first."""
    query = (
        sa.select(rollups)
        .where(rollups.c.hour >= start, rollups.c.hour < end)
        .order_by(rollups.c.hour)
    )
    out: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in conn.execute(query).mappings():
        out[(row["source"], row["queue"])].append(dict(row))
    return dict(out)


# -- helpers -----------------------------------------------------------------------------


def _snapshot_row(snapshot: Snapshot, q: QueueStats) -> dict[str, Any]:
    return {
        "source": snapshot.source,
        "queue": q.queue,
        "ts": snapshot.as_of,
        "window_start": snapshot.window.start,
        "open_total": q.open_total,
        "open_breakdown": [[s, p, n] for (s, p), n in sorted(q.open_by_status_priority.items())],
        "created": q.created,
        "resolved": q.resolved,
        "oldest_age_s": q.oldest_age_s,
        "older_than": dict(q.older_than) if q.older_than is not None else None,
        "age_quantiles": dict(q.age_quantiles) if q.age_quantiles is not None else None,
        "sla_breached_open": dict(q.sla_breached_open) if q.sla_breached_open is not None else None,
        "sla_at_risk": dict(q.sla_at_risk) if q.sla_at_risk is not None else None,
        "unassigned": q.unassigned,
        "sla_breached_window": dict(q.sla_breached_window)
        if q.sla_breached_window is not None
        else None,
        "avg_first_response_s": q.avg_first_response_s,
        "avg_resolution_s": q.avg_resolution_s,
        "reopened": q.reopened,
        "workload": workload_json(q.workload),
    }


def workload_json(workload: QueueWorkload | None) -> dict[str, Any] | None:
    """A queue's workload figures as stored (dataclasses as dicts, tuples as lists)."""
    return None if workload is None else dataclasses.asdict(workload)


def _figures(snapshot: Snapshot) -> dict[str, dict[str, Any]] | None:
    """The optional figures' states as stored (None when the collector does not say)."""
    states = {
        f.name: {"available": f.available, "mapped": f.mapped, "reason": f.reason}
        for f in snapshot.figures
    }
    return states or None


def _bump_counters(
    conn: sa.Connection, source: str, queues: list[QueueStats], now: datetime
) -> None:
    """Add the poll's counts to each queue's totals; a queue seen for the first time gets
    its row. One executemany per kind (a statement per queue took most of a 1,000-queue
    poll)."""
    existing = set(
        conn.execute(
            sa.select(queue_counters.c.queue).where(queue_counters.c.source == source)
        ).scalars()
    )
    bumps, fresh = [], []
    for q in queues:
        created, resolved = q.created or 0, q.resolved or 0
        if q.queue in existing:
            bumps.append({"b_queue": q.queue, "b_created": created, "b_resolved": resolved})
        else:
            fresh.append(
                {
                    "source": source,
                    "queue": q.queue,
                    "created_total": created,
                    "resolved_total": resolved,
                    "first_seen": now,
                    "last_seen": now,
                }
            )
    if bumps:
        conn.execute(_BUMP, [{**b, "b_source": source, "b_now": now} for b in bumps])
    if fresh:
        conn.execute(queue_counters.insert(), fresh)


_BUMP = (
    queue_counters.update()
    .where(
        queue_counters.c.source == sa.bindparam("b_source"),
        queue_counters.c.queue == sa.bindparam("b_queue"),
    )
    .values(
        created_total=queue_counters.c.created_total
        + sa.bindparam("b_created", type_=sa.BigInteger),
        resolved_total=queue_counters.c.resolved_total
        + sa.bindparam("b_resolved", type_=sa.BigInteger),
        last_seen=sa.bindparam("b_now", type_=TS),
    )
)
"""One queue's counters plus a poll's counts (executed many times in one call)."""


def _upsert_source(conn: sa.Connection, source: str, **values: Any) -> None:
    update_or_insert(conn, source_state, {"source": source}, values, {"consecutive_failures": 0})
