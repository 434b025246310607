"""``backlog-monitor snapshot``: what one source measures now, or measured at a past instant.

Without ``as_of`` it is the live poll (the tool to check a new mapping before starting
the daemon). With ``as_of`` the collector reconstructs the figures of that instant from
the tickets' own times (``Window.historical``; see docs/backfill.md for which figures are
exact and which are approximations from the tickets' current state).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.base import QueueStats, Snapshot, Window
from config.settings import Settings
from monitor.daemon import build_collectors
from monitor.errors import ConfigError


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (``2019-01-10T00:00Z``); a naive one is read as UTC.

    Raises:
        ValueError: not an ISO date/time.
    """
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def take(
    settings: Settings, source: str, now: datetime, as_of: datetime | None, window: timedelta
) -> Snapshot:
    """Collect ``source`` once: live at ``now``, or as of ``as_of`` (created and resolved
    counted in the ``window`` before the instant).

    Raises:
        ConfigError: no such source. Collector errors propagate.
    """
    names = [s.name for s in settings.sources]
    if source not in names:
        known = ", ".join(names) or "none"
        raise ConfigError([("--source", f"no source named {source!r} (configured: {known})")])
    collector = build_collectors(settings)[source]
    try:
        end = now if as_of is None else as_of
        return collector.collect(Window(end - window, end, historical=as_of is not None))
    finally:
        collector.close()


def as_json(snapshot: Snapshot) -> str:
    """The snapshot as a JSON document (queues by name, the total under ``total``)."""
    return json.dumps(
        {
            "source": snapshot.source,
            "as_of": snapshot.as_of.isoformat(),
            "window_start": snapshot.window.start.isoformat(),
            "historical": snapshot.window.historical,
            "exactness": snapshot.exactness,
            "queues": {q.queue: _queue(q) for q in snapshot.queues},
            "total": _queue(snapshot.total) if snapshot.total is not None else None,
        },
        indent=2,
        sort_keys=True,
    )


def _queue(q: QueueStats) -> dict[str, Any]:
    return {
        "open": q.open_total,
        "open_by_status_priority": [
            [status, priority, n]
            for (status, priority), n in sorted(q.open_by_status_priority.items())
        ],
        "created": q.created,
        "resolved": q.resolved,
        "oldest_age_s": q.oldest_age_s,
        "older_than": dict(q.older_than) if q.older_than is not None else None,
        "age_quantiles": dict(q.age_quantiles) if q.age_quantiles is not None else None,
        "unassigned": q.unassigned,
    }


def as_table(snapshot: Snapshot) -> str:
    """One line per queue (and the total): open, created, resolved, oldest, older than."""
    when = "as of" if snapshot.window.historical else "live at"
    head = (
        f"source {snapshot.source}, {when} {snapshot.as_of.isoformat()}"
        f" (created/resolved since {snapshot.window.start.isoformat()})"
    )
    rows: list[tuple[str, ...]] = [
        ("queue", "open", "created", "resolved", "oldest", ">7d", ">14d", ">30d")
    ]
    queues = list(snapshot.queues) + ([snapshot.total] if snapshot.total is not None else [])
    for q in queues:
        older = q.older_than or {}
        rows.append(
            (
                q.queue,
                str(q.open_total),
                _text(q.created),
                _text(q.resolved),
                _age(q.oldest_age_s),
                *(_text(older.get(k)) for k in ("7d", "14d", "30d")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join([head, *(line.rstrip() for line in lines)])


def _text(value: int | None) -> str:
    return "-" if value is None else str(value)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours = seconds / 3600
    return f"{hours / 24:.1f}d" if hours >= 48 else f"{hours:.1f}h"
