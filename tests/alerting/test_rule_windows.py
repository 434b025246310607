"""Rules find their window by bisection: the same values as a scan of every row.

The reference functions below are the full scans the rules used before (window
``start < ts <= now``; without a window, the newest sample within LOOKBACK; aging and
the SLA counts read the newest row with ``ts <= now``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from alerting.engine import evaluate
from alerting.rules import EvalContext, Rule
from alerting.rules.aging import _METRIC
from alerting.rules.common import LOOKBACK, Measured, in_window, is_ordered, newest_at
from alerting.rules.threshold import REDUCERS, metric_value
from alerting.state import NoData

T0 = datetime(2016, 3, 21, 12, 0, tzinfo=UTC)
KEY = ("helpdesk", "Billing")
RULE: TypeAdapter[Any] = TypeAdapter(Rule)
CTX = EvalContext()


def rule(**fields: Any) -> Any:
    return RULE.validate_python({"name": "R", "threshold": 1, **fields})


def rows_every_15_minutes(count: int = 12) -> list[dict[str, Any]]:
    """Rows at T0 + 15 min, + 30 min, ...; some values missing, some ts repeated."""
    out = []
    for i in range(count):
        ts = T0 + timedelta(minutes=15 * (i + 1))
        out.append(
            {
                "source": KEY[0],
                "queue": KEY[1],
                "ts": ts,
                "window_start": ts - timedelta(minutes=15),
                "open_total": 10 + i,
                "open_breakdown": [["open", "P1", i], ["new", "P2", 10]],
                "created": None if i % 4 == 2 else i,
                "resolved": i % 3,
                "oldest_age_s": None if i == count - 1 else 1000.0 * i,
                "older_than": {"7d": i} if i % 5 else None,
                "sla_breached_open": {"resolution": i},
                "sla_breached_window": {"resolution": 1} if i % 2 else None,
                "avg_resolution_s": 3600.0 * (i + 1) if i % 3 else None,
            }
        )
    # a second row at the same ts as the 6th (another poll's row; the later one counts last)
    out.insert(6, {**out[5], "open_total": 99, "created": 7})
    return out


def linear(r: Any, rows: list[dict[str, Any]], now: datetime) -> Measured | NoData:  # noqa: C901
    """The rule's measure by scanning every row (the code before bisection)."""
    if r.kind == "threshold":
        start = now - (r.window if r.window > timedelta(0) else LOOKBACK)
        samples = [(x["ts"], v) for x in rows if (v := r.sample_value(x)) is not None]
        values = [v for ts, v in samples if start < ts <= now]
        values = values if r.window > timedelta(0) else values[-1:]
        if not values:
            return NoData(f"no samples of {r.metric} in the window")
        return Measured(REDUCERS[r.reduce](values), r.expression())
    if r.kind == "flow":
        start = now - r.window
        inside = [x for x in rows if start < x["ts"] <= now]
        created = [x["created"] for x in inside if x.get("created") is not None]
        resolved = [x["resolved"] for x in inside if x.get("resolved") is not None]
        if not inside or not created or not resolved:
            return NoData("no created/resolved counts in the window")
        first = min(x["window_start"] for x in inside)
        hours = max((now - max(first, start)).total_seconds(), 1.0) / 3600
        assert r.measure == "net_inflow_per_hour"
        return Measured((sum(created) - sum(resolved)) / hours, r.expression())
    latest = [x for x in rows if x["ts"] <= now]
    if not latest:
        return NoData("no snapshot of the queue")
    if r.kind == "aging":
        value = metric_value(_METRIC[r.measure], latest[-1])
        if value is None:
            return NoData(f"the source does not give {r.measure}")
        return Measured(value, r.expression())
    assert r.kind == "sla"
    if r.measure == "avg_resolution_time":
        total, weight = 0.0, 0
        for x in latest:
            if x["ts"] <= now - r.window or x.get("avg_resolution_s") is None:
                continue
            n = int(x.get("resolved") or 0)
            total, weight = total + float(x["avg_resolution_s"]) * n, weight + n
        if weight == 0:
            return NoData("no ticket resolved in the window")
        return Measured(total / weight, r.expression())
    if r.measure == "breached_in_window":
        inside = [x for x in latest if x["ts"] > now - r.window]
        known = [
            float(x["sla_breached_window"]["resolution"])
            for x in inside
            if x.get("sla_breached_window")
        ]
        if not known:
            return NoData("the source does not give resolution SLA breaches")
        return Measured(float(sum(known)), r.expression())
    assert r.measure == "breached_open"
    return Measured(float(latest[-1]["sla_breached_open"]["resolution"]), r.expression())


RULES = [
    *(
        {"metric": "open_tickets", "reduce": reduce, "window": window}
        for reduce in ("avg", "max", "min", "last", "sum")
        for window in ("15m", "1h", "2h")
    ),
    {"metric": "open_tickets"},  # last, no window: the newest within LOOKBACK
    {"metric": "open_tickets", "match": {"priority": "P1"}, "reduce": "avg", "window": "1h"},
    {"metric": "open_tickets", "match": {"status": "new"}},
    {"metric": "tickets_created", "reduce": "sum", "window": "1h"},
    {"metric": "tickets_created"},  # the newest row may lack it
    {"metric": "tickets_created", "reduce": "last", "window": "45m"},
    {"metric": "tickets_resolved", "reduce": "avg", "window": "30m"},
    {"metric": "oldest_ticket_age_seconds", "reduce": "max", "window": "1h"},
    {"metric": "oldest_ticket_age_seconds"},
    {"metric": "open_tickets_older_than_7d", "reduce": "last", "window": "1h"},
    {"kind": "flow", "window": "1h"},
    {"kind": "flow", "window": "15m"},
    {"kind": "aging", "measure": "oldest_age"},
    {"kind": "aging", "measure": "older_than_7d"},
    {"kind": "sla", "measure": "avg_resolution_time", "window": "1h"},
    {"kind": "sla", "measure": "breached_in_window", "window": "45m"},
    {"kind": "sla", "measure": "breached_open"},
]

# On a row's ts (window ends inclusive; windows of 15 min multiples start on a row,
# exclusive), between rows, before the first row, on the repeated ts, the last row and
# long after it (empty windows).
NOWS = [T0 + timedelta(minutes=m) for m in (0, 10, 15, 20, 45, 60, 90, 91, 105, 180, 190, 400)]


@pytest.mark.parametrize("fields", RULES, ids=lambda f: "-".join(map(str, f.values())))
def test_bisection_equals_the_full_scan(fields: dict[str, Any]) -> None:
    """Every rule gives the scan's value (or its NoData reason) at every instant."""
    r = rule(**fields)
    rows = rows_every_15_minutes()
    for now in NOWS:
        assert r.compute(rows, now, CTX, KEY) == linear(r, rows, now), now


def test_window_boundaries_start_exclusive_end_inclusive() -> None:
    """A row exactly at now - window is out, a row exactly at now is in."""
    rows = rows_every_15_minutes()
    now = T0 + timedelta(minutes=60)  # rows at 15, 30, 45, 60 min
    inside = in_window(rows, now - timedelta(minutes=45), now)
    assert [x["ts"] for x in inside] == [T0 + timedelta(minutes=m) for m in (30, 45, 60)]
    r = rule(metric="open_tickets", reduce="sum", window="45m")
    assert r.compute(rows, now, CTX, KEY) == Measured(11 + 12 + 13, r.expression())


def test_empty_window_is_no_data() -> None:
    """No row in the window: no data, for windowed and last-value rules alike."""
    rows = rows_every_15_minutes()
    late = rows[-1]["ts"] + timedelta(hours=3)
    assert in_window(rows, late - timedelta(hours=1), late) == []
    for fields in (
        {"metric": "open_tickets", "reduce": "avg", "window": "1h"},
        {"metric": "open_tickets"},
        {"kind": "flow", "window": "1h"},
        {"kind": "sla", "measure": "avg_resolution_time", "window": "1h"},
    ):
        assert isinstance(rule(**fields).compute(rows, late, CTX, KEY), NoData)
    assert isinstance(rule(metric="open_tickets").compute([], late, CTX, KEY), NoData)


def test_last_reduce_takes_the_newest_row_of_the_repeated_ts() -> None:
    """With two rows at one ts, last is the later one in the series (by id)."""
    rows = rows_every_15_minutes()
    now = rows[6]["ts"]  # the repeated ts
    assert rule(metric="open_tickets").compute(rows, now, CTX, KEY).value == 99
    r = rule(metric="open_tickets", reduce="last", window="30m")
    assert r.compute(rows, now, CTX, KEY).value == 99


def test_aging_reads_the_newest_row_at_or_before_now() -> None:
    """Aging reads the newest row, not an older one that has the value."""
    rows = rows_every_15_minutes()
    r = rule(kind="aging", measure="oldest_age")
    assert isinstance(r.compute(rows, rows[-1]["ts"], CTX, KEY), NoData)  # newest lacks it
    assert r.compute(rows, rows[-2]["ts"], CTX, KEY).value == rows[-2]["oldest_age_s"]
    assert (
        r.compute(rows, rows[-1]["ts"] - timedelta(seconds=1), CTX, KEY).value
        == (rows[-2]["oldest_age_s"])
    )
    assert newest_at(rows, T0) == 0
    assert isinstance(r.compute(rows, T0, CTX, KEY), NoData)


def test_engine_sorts_a_series_that_is_not_in_order() -> None:
    """The engine gives the rules their rows oldest first, whatever the caller passed."""
    rows = [x for x in rows_every_15_minutes() if x["open_total"] != 99]  # distinct ts
    shuffled = rows[:]
    random.Random(4).shuffle(shuffled)
    assert is_ordered(rows) and not is_ordered(shuffled)
    rules = [rule(**fields, name=f"R{i}") for i, fields in enumerate(RULES)]
    now = T0 + timedelta(minutes=91)
    ctx = EvalContext(last_seen={KEY: now})
    ordered = evaluate(rules, {KEY: rows}, {}, {}, [], now, "", ctx)
    unordered = evaluate(rules, {KEY: shuffled}, {}, {}, [], now, "", ctx)
    got = [(i.fingerprint, i.state, i.last_value) for i in unordered.changed]
    assert got == [(i.fingerprint, i.state, i.last_value) for i in ordered.changed]
    assert shuffled != rows  # the caller's list is left alone
