"""What the collector must report, computed with pandas from a product's ticket facts.

Each product module reads the rows it inserted and reduces them, following the product's
own semantics, to one row per ticket of :data:`FACTS` columns. :func:`expected` then
applies the collector's documented figure definitions to those facts: it never sees the
collector's SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from collectors.base import AGE_BUCKETS, QueueStats, Window
from collectors.sql import SqlCollector, SqlSourceConfig
from tests.collectors.upstream.story import AS_OF, WINDOWS, utc_naive

FACTS = (
    "ticket",  # the product's ticket id (a ticket may appear once per queue it counts in)
    "queue",
    "status",
    "priority",  # the label, "" when the product shows none
    "is_open",
    "created",  # naive UTC, NaT when unknown
    "resolved",  # naive UTC: when the product says it was resolved, NaT when it does not
    "first_response",
    "fr_due",
    "res_due",
    "unassigned",
    "reopened",
)
QUANTILES = (("0.5", 50), ("0.9", 90), ("0.99", 99))
HANG_GUARD = "300s"
"""The collector's statement timeout in these tests: a guard against a hung query, not a
speed requirement (the servers are shared and often loaded)."""


@dataclass(frozen=True)
class Capabilities:
    """Which optional figures a preset gives (the others must be None)."""

    sla_kinds: tuple[str, ...] = ("first_response", "resolution")
    window_breaches: bool = True
    reopened: bool = True
    at_risk_margin: timedelta = timedelta(hours=1)


def expected(facts: pd.DataFrame, window: Window, caps: Capabilities) -> tuple[QueueStats, ...]:
    """Every queue's figures for ``facts`` (counted tickets only), sorted by queue."""
    t0, t1 = utc_naive(window.start), utc_naive(window.end)
    done = _resolved_in(facts, t0, t1)
    created = facts[(facts["created"] >= t0) & (facts["created"] < t1)]
    queues = set(facts.loc[facts["is_open"], "queue"]) | set(created["queue"]) | set(done["queue"])
    return tuple(_queue(q, facts[facts["queue"] == q], t0, t1, caps) for q in sorted(queues))


def total(facts: pd.DataFrame, window: Window, caps: Capabilities, name: str) -> QueueStats:
    """Source-wide figures: every counted ticket once, whatever queues it is in."""
    once = facts.drop_duplicates("ticket").assign(queue=name)
    return _queue(name, once, utc_naive(window.start), utc_naive(window.end), caps)


def _resolved_in(rows: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> pd.DataFrame:
    return rows[~rows["is_open"] & (rows["resolved"] >= t0) & (rows["resolved"] < t1)]


def _queue(
    queue: str, rows: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp, caps: Capabilities
) -> QueueStats:
    live = rows[rows["is_open"]]
    done = _resolved_in(rows, t0, t1)
    ages = sorted(max(0.0, s) for s in (t1 - live["created"].dropna()).dt.total_seconds())
    by = live.groupby(["status", "priority"]).size()
    responded = done[done["first_response"].notna()]
    return QueueStats(
        queue=queue,
        open_by_status_priority={(str(s), str(p)): int(n) for (s, p), n in by.items()},
        created=int(((rows["created"] >= t0) & (rows["created"] < t1)).sum()),
        resolved=len(done),
        oldest_age_s=ages[-1] if ages else None,
        older_than={k: sum(a > d * 86400 for a in ages) for k, d in AGE_BUCKETS},
        age_quantiles={k: ages[(len(ages) * p + 99) // 100 - 1] for k, p in QUANTILES}
        if ages
        else None,
        sla_breached_open=_sla(live, t1, None, caps) if caps.sla_kinds else None,
        sla_at_risk=_sla(live, t1, caps.at_risk_margin, caps) if caps.sla_kinds else None,
        unassigned=int(live["unassigned"].sum()),
        sla_breached_window=_missed(rows, t0, t1, caps)
        if caps.sla_kinds and caps.window_breaches
        else None,
        avg_first_response_s=_mean(responded["first_response"] - responded["created"]),
        avg_resolution_s=_mean(done["resolved"] - done["created"]),
        reopened=int(((rows["reopened"] >= t0) & (rows["reopened"] < t1)).sum())
        if caps.reopened
        else None,
    )


def _sla(
    live: pd.DataFrame, now: pd.Timestamp, margin: timedelta | None, caps: Capabilities
) -> dict[str, int]:
    """Open tickets past their deadline (``margin`` None) or due within ``margin``."""
    out = {}
    for kind in caps.sla_kinds:
        rows = live[live["first_response"].isna()] if kind == "first_response" else live
        due = rows["fr_due" if kind == "first_response" else "res_due"]
        hit = due < now if margin is None else (due >= now) & (due < now + margin)
        out[kind] = int(hit.sum())
    return out


def _missed(
    rows: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp, caps: Capabilities
) -> dict[str, int]:
    """Deadlines that fell in the window and were not met (or are still open)."""
    out = {}
    if "first_response" in caps.sla_kinds:
        due, met = rows["fr_due"], rows["first_response"]
        out["first_response"] = int(((due >= t0) & (due < t1) & (met.isna() | (met > due))).sum())
    if "resolution" in caps.sla_kinds:
        due, met = rows["res_due"], rows["resolved"]
        late = rows["is_open"] | (met.notna() & (met > due))
        out["resolution"] = int(((due >= t0) & (due < t1) & late).sum())
    return out


def _mean(durations: pd.Series) -> float | None:
    seconds = durations.dropna().dt.total_seconds()
    return float(seconds.mean()) if len(seconds) else None


AVERAGES = ("avg_first_response_s", "avg_resolution_s")
FIGURES = tuple(f.name for f in fields(QueueStats) if f.name != "queue")


def same(
    got: tuple[QueueStats, ...], want: tuple[QueueStats, ...], only: tuple[str, ...] = FIGURES
) -> None:
    """Assert equal figures (``only`` these): exact, averages to the millisecond (the
    database rounds its AVG to a few decimals, pandas does not)."""
    assert [q.queue for q in got] == [q.queue for q in want]
    blank = dict.fromkeys(set(FIGURES) - set(only) | set(AVERAGES))
    for g, w in zip(got, want, strict=True):
        for name in set(AVERAGES) & set(only):
            a, b = getattr(g, name), getattr(w, name)
            assert (a is None) == (b is None) and abs((a or 0.0) - (b or 0.0)) <= 1e-3, (
                g.queue,
                name,
                a,
                b,
            )
        a, b = replace(g, **blank), replace(w, **blank)
        assert a == b, {
            f: (getattr(a, f), getattr(b, f)) for f in FIGURES if getattr(a, f) != getattr(b, f)
        }


def check(
    url: str,
    preset: str,
    facts: pd.DataFrame,
    caps: Capabilities,
    *,
    lengths: tuple[timedelta, ...] = WINDOWS,
    only: tuple[str, ...] = FIGURES,
    **source: Any,
) -> None:
    """Poll a preset at :data:`story.AS_OF` over windows of ``lengths`` and compare its
    figures (``only`` these) with ``facts``."""
    mapping = {"preset": preset, **source.pop("mapping", {})}
    config = {"kind": "sql", "name": preset, "url": url, "timeout": HANG_GUARD, "mapping": mapping}
    collector = SqlCollector(SqlSourceConfig.model_validate({**config, **source}))
    try:
        for window in windows(AS_OF, lengths):
            same(collector.collect(window).queues, expected(facts, window, caps), only)
    finally:
        collector.close()


def windows(as_of: datetime, lengths: tuple[timedelta, ...]) -> list[Window]:
    """The half-open windows of each length ending at ``as_of``."""
    return [Window(as_of - length, as_of) for length in lengths]
