"""The best hand-written SQL for the figures of one poll, per engine (issue #3's baseline).

One statement, one round trip: a ``UNION ALL`` of the backlog/aging/SLA aggregate over
the open tickets, the age quantiles (PostgreSQL: one ``percentile_disc`` over an array of
fractions, fed by an index-only scan; MariaDB: nearest rank by window functions), and
the window figures, where each reads only its own index range
(``created_at``, ``resolved_at``, ``resolution_due_at``) through ``UNION ALL``.
Every row of the answer has the same columns; ``kind`` says which part it is.

Parameters: ``now`` (= window end), ``c7``/``c14``/``c30`` (age cut-offs), ``risk``
(``now`` + the at-risk margin), ``t0``/``t1`` (the window), all naive UTC.
"""

# ruff: noqa: E501  (SQL text reads better unwrapped)
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from collectors.base import AGE_BUCKETS, Window

OPEN = "'open'"

_OPEN_AGG = """
    SUM(CASE WHEN created_at < :c7 THEN 1 ELSE 0 END),
    SUM(CASE WHEN created_at < :c14 THEN 1 ELSE 0 END),
    SUM(CASE WHEN created_at < :c30 THEN 1 ELSE 0 END),
    SUM(CASE WHEN resolution_due_at < :now THEN 1 ELSE 0 END),
    SUM(CASE WHEN resolution_due_at >= :now AND resolution_due_at < :risk THEN 1 ELSE 0 END)"""

POSTGRESQL = """
SELECT 'open' AS kind, queue, status, priority, COUNT(*) AS n, MIN(created_at) AS oldest,
    {open_agg},
    NULL::timestamp, NULL::timestamp, NULL::timestamp, NULL::numeric
FROM {t} WHERE status = 'open' GROUP BY queue, status, priority
UNION ALL
SELECT 'quantiles', queue, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, q[1], q[2], q[3], NULL
FROM (SELECT queue, percentile_disc(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY created_at DESC) AS q
      FROM {t} WHERE status = 'open' GROUP BY queue) p
UNION ALL
SELECT 'window', queue, NULL, NULL, SUM(created), NULL, SUM(resolved), SUM(breached), NULL, NULL, NULL,
    NULL, NULL, NULL, AVG(resolution_s)
FROM (
    SELECT queue, 1 AS created, 0 AS resolved, 0 AS breached, NULL::numeric AS resolution_s
    FROM {t} WHERE created_at >= :t0 AND created_at < :t1
    UNION ALL
    SELECT queue, 0, 1, 0, EXTRACT(EPOCH FROM (resolved_at - created_at))
    FROM {t} WHERE resolved_at >= :t0 AND resolved_at < :t1 AND status <> 'open'
    UNION ALL
    SELECT queue, 0, 0, CASE WHEN status = 'open' OR resolved_at > resolution_due_at THEN 1 ELSE 0 END, NULL
    FROM {t} WHERE resolution_due_at >= :t0 AND resolution_due_at < :t1
) w GROUP BY queue
"""

MARIADB = """
SELECT 'open' AS kind, queue, status, priority, COUNT(*) AS n, MIN(created_at) AS oldest,
    {open_agg},
    NULL AS q50, NULL AS q90, NULL AS q99, NULL AS avg_resolution_s
FROM {t} WHERE status = 'open' GROUP BY queue, status, priority
UNION ALL
SELECT 'quantiles', queue, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    MIN(CASE WHEN rn = (cnt * 50 + 99) DIV 100 THEN created_at END),
    MIN(CASE WHEN rn = (cnt * 90 + 99) DIV 100 THEN created_at END),
    MIN(CASE WHEN rn = (cnt * 99 + 99) DIV 100 THEN created_at END), NULL
FROM (SELECT queue, created_at,
             ROW_NUMBER() OVER (PARTITION BY queue ORDER BY created_at DESC) AS rn,
             COUNT(*) OVER (PARTITION BY queue) AS cnt
      FROM {t} WHERE status = 'open') r
GROUP BY queue
UNION ALL
SELECT 'window', queue, NULL, NULL, SUM(created), NULL, SUM(resolved), SUM(breached), NULL, NULL, NULL,
    NULL, NULL, NULL, AVG(resolution_s)
FROM (
    SELECT queue, 1 AS created, 0 AS resolved, 0 AS breached, NULL AS resolution_s
    FROM {t} WHERE created_at >= :t0 AND created_at < :t1
    UNION ALL
    SELECT queue, 0, 1, 0, TIMESTAMPDIFF(SECOND, created_at, resolved_at)
    FROM {t} WHERE resolved_at >= :t0 AND resolved_at < :t1 AND status <> 'open'
    UNION ALL
    SELECT queue, 0, 0, CASE WHEN status = 'open' OR resolved_at > resolution_due_at THEN 1 ELSE 0 END, NULL
    FROM {t} WHERE resolution_due_at >= :t0 AND resolution_due_at < :t1
) w GROUP BY queue
"""


MARIADB_PERCENTILE = """
SELECT DISTINCT 'quantiles', queue, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY created_at DESC) OVER (PARTITION BY queue),
    PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY created_at DESC) OVER (PARTITION BY queue),
    PERCENTILE_DISC(0.99) WITHIN GROUP (ORDER BY created_at DESC) OVER (PARTITION BY queue), NULL
FROM {t} WHERE status = 'open'
"""


def shapes(dialect: str) -> tuple[str, ...]:
    """``union``: the three parts (open tickets, quantiles, window) as one ``UNION ALL``
    statement, one round trip; ``split``: the same parts as three statements, so each gets
    its own plan (PostgreSQL: its own parallel workers); MariaDB ``split_pdisc``: ``split``
    with the quantiles by MariaDB's ``PERCENTILE_DISC ... OVER (PARTITION BY queue)``."""
    return ("union", "split") if dialect == "postgresql" else ("union", "split", "split_pdisc")


def statements(dialect: str, table: str, shape: str = "union") -> list[sa.TextClause]:
    template = POSTGRESQL if dialect == "postgresql" else MARIADB
    text = template.format(t=table, open_agg=_OPEN_AGG)
    if shape == "union":
        return [sa.text(text)]
    parts = [
        p if i == 0 else "SELECT '" + p for i, p in enumerate(text.split("\nUNION ALL\nSELECT '"))
    ]
    if shape == "split_pdisc":
        parts[1] = MARIADB_PERCENTILE.format(t=table)
    return [sa.text(p) for p in parts]


def parameters(window: Window, at_risk: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    def naive(instant: datetime) -> datetime:
        return instant.astimezone(UTC).replace(tzinfo=None)

    now = window.end
    out = {f"c{d}": naive(now - timedelta(days=d)) for _, d in AGE_BUCKETS}
    out.update(now=naive(now), risk=naive(now + at_risk), t0=naive(window.start), t1=naive(now))
    return out


def figures(rows: list[Any], now: datetime) -> dict[str, dict[str, Any]]:  # noqa: C901
    """The answer as per-queue figures, shaped like :func:`sql_poll.snapshot_figures`."""

    def age(value: datetime | None) -> float | None:
        if value is None:
            return None
        return max(0.0, (now - value.replace(tzinfo=UTC)).total_seconds())

    queues: dict[str, dict[str, Any]] = {}

    def queue(name: str) -> dict[str, Any]:
        return queues.setdefault(
            name,
            {
                "open": {},
                "created": 0,
                "resolved": 0,
                "oldest_age_s": None,
                "older_than": {k: 0 for k, _ in AGE_BUCKETS},
                "age_quantiles": None,
                "sla_breached_open": {"resolution": 0},
                "sla_at_risk": {"resolution": 0},
                "sla_breached_window": {"resolution": 0},
                "avg_resolution_s": None,
            },
        )

    quantiles: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    for r in rows:
        kind, name = r[0], r[1]
        if kind == "open":
            f = queue(name)
            f["open"][f"{r[2]}/{r[3]}"] = int(r[4])
            a = age(r[5])
            if a is not None and (f["oldest_age_s"] is None or a > f["oldest_age_s"]):
                f["oldest_age_s"] = a
            for (bucket, _), value in zip(AGE_BUCKETS, r[6:9], strict=True):
                f["older_than"][bucket] += int(value)
            f["sla_breached_open"]["resolution"] += int(r[9])
            f["sla_at_risk"]["resolution"] += int(r[10])
        elif kind == "quantiles":
            quantiles[name] = r
        else:
            windows[name] = r
    for name, r in windows.items():
        if int(r[4]) or int(r[6]) or name in queues:
            f = queue(name)
            f["created"], f["resolved"] = int(r[4]), int(r[6])
            f["avg_resolution_s"] = None if r[14] is None else float(r[14])
        if name in queues:
            queues[name]["sla_breached_window"]["resolution"] = int(r[7])
    for name, r in quantiles.items():
        if name in queues and queues[name]["open"]:
            queues[name]["age_quantiles"] = {
                label: age(v) for label, v in zip(("0.5", "0.9", "0.99"), r[11:14], strict=True)
            }
    return queues
