"""1,000 real-shaped queues, one snapshot row a minute, from the ServiceNow incidents fixture.

``monitor/demo/data/servicenow_incidents.csv.gz`` holds 24,918 real incidents (queue,
priority, opened_at, resolved_at). Queue ``i`` of the benchmark replays the real group
``GROUPS[i % 43]`` (the 43 groups with at least 50 incidents) from a seeded random real
instant ``anchor_i`` between 2016-03-14 and 2016-05-25 (two weeks after the data starts,
so backlogs have built up; the data thins out after May): the store row at benchmark
time ``T_START + m minutes`` describes that group as it really was at
``anchor_i + m minutes``. So 1,000 distinct series (43 real groups x ~23 real offsets),
each exactly the real per-minute backlog of a real group, never synthetic numbers.

Per row: ``open_total`` and ``open_breakdown`` (status ``open`` x the real priority),
``created``/``resolved`` in the minute, ``oldest_age_s``, ``older_than`` 7d/14d/30d,
``age_quantiles`` 0.5/0.9/0.99, ``avg_resolution_s`` of the tickets resolved in the
minute. The fixture has no SLA due dates, first responses, assignees or reopenings, so
those columns are None (as a collector that cannot give them stores them).
"""

from __future__ import annotations

import bisect
import csv
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

FIXTURE = Path(__file__).resolve().parents[2] / "monitor/demo/data/servicenow_incidents.csv.gz"
SOURCE = "servicenow"
T_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
"""Benchmark time of the first stored row (any instant would do; rows are replayed)."""
ANCHOR_FROM = datetime(2016, 3, 14, tzinfo=UTC)
ANCHOR_SPAN_MIN = 72 * 24 * 60
MIN_INCIDENTS = 50
PRIORITIES = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
DAY = 86400.0


@dataclass
class Group:
    name: str
    opened: np.ndarray  # epoch minutes, sorted
    resolved: np.ndarray  # epoch minutes, same order as opened
    priority: np.ndarray  # index into PRIORITIES
    res_sorted: np.ndarray  # resolved minutes, sorted
    dur_cum: np.ndarray  # cumulative resolution seconds, in res_sorted order (leading 0)


def _minutes(text: str) -> int:
    dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp() // 60)


def load_groups() -> list[Group]:
    """The real groups with at least MIN_INCIDENTS incidents, largest first."""
    by_group: dict[str, list[tuple[int, int, int]]] = {}
    with gzip.open(FIXTURE, "rt", newline="") as fh:
        for rec in csv.DictReader(fh):
            opened = _minutes(rec["opened_at"])
            resolved = _minutes(rec["resolved_at"]) if rec["resolved_at"] else 2**40
            by_group.setdefault(rec["queue"], []).append(
                (opened, resolved, PRIORITIES.index(rec["priority"]))
            )
    groups = []
    for name, items in sorted(by_group.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(items) < MIN_INCIDENTS:
            continue
        items.sort()
        arr = np.array(items, dtype=np.int64)
        order = np.argsort(arr[:, 1], kind="stable")
        res_sorted = arr[order, 1]
        durations = (arr[order, 1] - arr[order, 0]) * 60.0
        groups.append(
            Group(
                name=name,
                opened=arr[:, 0],
                resolved=arr[:, 1],
                priority=arr[:, 2],
                res_sorted=res_sorted,
                dur_cum=np.concatenate([[0.0], np.cumsum(durations)]),
            )
        )
    return groups


@dataclass
class QueueSpec:
    name: str
    group: Group
    anchor_min: int  # real epoch minute replayed at T_START


def queues(n: int = 1000, seed: int = 0) -> list[QueueSpec]:
    groups = load_groups()
    rng = np.random.default_rng(seed)
    base = int(ANCHOR_FROM.timestamp() // 60)
    out: dict[str, QueueSpec] = {}
    i = 0
    while len(out) < n:
        g = groups[i % len(groups)]
        anchor = base + int(rng.integers(0, ANCHOR_SPAN_MIN))
        real = datetime.fromtimestamp(anchor * 60, UTC).strftime("%Y%m%dT%H%M")
        out.setdefault(f"{g.name} @{real}", QueueSpec(f"{g.name} @{real}", g, anchor))
        i += 1
    return list(out.values())
    return out


def queue_rows(spec: QueueSpec, minutes: int) -> list[dict[str, Any]]:
    """Snapshot rows (store columns, no id) for benchmark minutes 0..minutes-1."""
    g = spec.group
    real = spec.anchor_min + np.arange(minutes, dtype=np.int64)
    is_open = (g.opened[None, :] <= real[:, None]) & (g.resolved[None, :] > real[:, None])
    by_prio = np.stack([(is_open & (g.priority == p)[None, :]).sum(axis=1) for p in range(4)], 1)
    created = np.searchsorted(g.opened, real, "left") - np.searchsorted(g.opened, real - 1, "left")
    lo = np.searchsorted(g.res_sorted, real - 1, "left")
    hi = np.searchsorted(g.res_sorted, real, "left")
    resolved = hi - lo
    rows = []
    for m in range(minutes):
        ts = T_START + timedelta(minutes=m)
        idx = np.nonzero(is_open[m])[0]
        ages = (real[m] - g.opened[idx]) * 60.0  # opened sorted ascending: ages descending
        n_open = len(idx)
        asc = ages[::-1].tolist()
        quant = {q: _quantile(asc, float(q)) for q in ("0.5", "0.9", "0.99")} if n_open else {}
        oldest = asc[-1] if n_open else None
        k = int(resolved[m])
        avg_res = (float(g.dur_cum[hi[m]] - g.dur_cum[lo[m]]) / k) if k else None
        rows.append(
            {
                "source": SOURCE,
                "queue": spec.name,
                "ts": ts,
                "window_start": ts - timedelta(minutes=1),
                "open_total": n_open,
                "open_breakdown": [
                    ["open", PRIORITIES[p], int(by_prio[m, p])] for p in range(4) if by_prio[m, p]
                ],
                "created": int(created[m]),
                "resolved": k,
                "oldest_age_s": oldest,
                "older_than": {f"{d}d": _above(asc, d * DAY) for d in (7, 14, 30)},
                "age_quantiles": quant or None,
                "sla_breached_open": None,
                "sla_at_risk": None,
                "unassigned": None,
                "sla_breached_window": None,
                "avg_first_response_s": None,
                "avg_resolution_s": avg_res,
                "reopened": None,
            }
        )
    return rows


def _quantile(asc: list[float], q: float) -> float:
    """numpy's default (linear) quantile of an ascending list."""
    pos = q * (len(asc) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(asc) - 1)
    return asc[lo] + (asc[hi] - asc[lo]) * (pos - lo)


def _above(asc: list[float], limit: float) -> int:
    return len(asc) - bisect.bisect_right(asc, limit)


def build(n: int = 1000, minutes: int = 150, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Rows per queue name, oldest first."""
    return {q.name: queue_rows(q, minutes) for q in queues(n, seed)}


def thresholds(data: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Rule thresholds at real percentiles of the data, so a realistic few queues breach."""
    opens = np.array([r["open_total"] for rows in data.values() for r in rows], dtype=float)
    created_h = []
    for rows in data.values():
        c = np.array([r["created"] for r in rows], dtype=float)
        created_h += list(np.convolve(c, np.ones(60), "valid"))
    older = np.array([r["older_than"]["7d"] for rows in data.values() for r in rows], dtype=float)
    return {
        "open_p90": float(np.percentile(opens, 90)),
        "open_p95": float(np.percentile(opens, 95)),
        "open_p97": float(np.percentile(opens, 97)),
        "created_1h_p95": float(np.percentile(created_h, 95)),
        "older_7d_p90": float(np.percentile(older, 90)),
    }


def rules_yaml(t: dict[str, float]) -> str:
    """The 10 rules (a realistic mix of kinds) in the daemon's configuration format."""
    return f"""
rules:
  - name: BacklogHighAvg2h
    metric: open_tickets
    reduce: avg
    window: 2h
    threshold: {t["open_p90"]:.0f}
    severity: warning
  - name: BacklogHighSustained
    metric: open_tickets
    reduce: last
    for: 30m
    threshold: {t["open_p95"]:.0f}
    severity: critical
  - name: BacklogPeak1h
    metric: open_tickets
    reduce: max
    window: 1h
    threshold: {t["open_p97"]:.0f}
  - name: ArrivalBurst1h
    metric: tickets_created
    reduce: sum
    window: 1h
    threshold: {t["created_1h_p95"]:.0f}
  - name: NetInflow1h
    kind: flow
    measure: net_inflow_per_hour
    window: 1h
    threshold: 3
    for: 10m
  - name: OldestTicket30d
    kind: aging
    measure: oldest_age
    threshold: 30d
  - name: StaleTickets7d
    kind: aging
    measure: older_than_7d
    threshold: {t["older_7d_p90"]:.0f}
  - name: SlowResolution
    kind: sla
    measure: avg_resolution_time
    target: 8h
    exceeds_by: 20%
    window: 2h
  - name: CriticalOpen
    metric: open_tickets
    match:
      priority: "1 - Critical"
    threshold: 0
    for: 10m
    severity: critical
  - name: QueueSilent
    kind: absent
    stale_after: 15m
"""
