"""What the status page shows, computed from what the store holds (pure: ``now`` passed in).

:func:`build_page` turns a :class:`StoreView` (rows read by ``monitor/statuspage.py``)
into a :class:`StatusPage` that the template only lays out. Nothing here reads the
clock, the store or the configuration file, so tests build pages from plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.limits import BacklogLimit
from alerting.silences import Silence, silenced_by
from alerting.state import AlertInstance, AlertState
from monitor.sparkline import Sparkline, sparkline

Key = tuple[str, str]
HOUR = timedelta(hours=1)
FORECAST_HOURS = 24
"""How far ahead the trend chart draws the forecast band."""
MAX_QUEUES = 500
"""Queues shown at most (the busiest first); the rest are counted, not drawn."""


@dataclass(frozen=True)
class StoreView:
    """The rows the page is made of, as read from the store at one instant.

    Attributes:
        latest: the newest snapshot row of every queue.
        trends: per queue, ``(instant, open tickets)`` points, oldest first.
        forecasts: per queue, the stored forecast row (``made_at``, ``point``, ``lower``,
            ``upper``, ``detail``).
        instances: every stored alert instance.
        silences: every stored silence.
        staffing: per queue, the resourcing state (``summary``, ``document``).
        health: per source, its :class:`monitor.store.history.SourceHealth`.
        sources: the configured source names, in configuration order.
        limits: per queue, the backlog limits of the rules that select it.
    """

    latest: Sequence[Mapping[str, Any]]
    trends: Mapping[Key, Sequence[tuple[datetime, float]]]
    forecasts: Mapping[Key, Mapping[str, Any]]
    instances: Sequence[AlertInstance]
    silences: Sequence[Silence]
    staffing: Mapping[Key, Mapping[str, Any]]
    health: Mapping[str, Any]
    sources: Sequence[str]
    limits: Mapping[Key, Sequence[BacklogLimit]] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertLine:
    """One pending or firing alert of a queue (or of a source, for CollectorDown)."""

    name: str
    severity: str
    state: str
    since: str
    summary: str
    silenced: bool


@dataclass(frozen=True)
class QueueCard:
    """Everything the page says about one queue."""

    source: str
    queue: str
    backlog: int
    as_of: str
    limit: BacklogLimit | None
    chart: Sparkline
    breach: str | None
    sla: list[str]
    alerts: list[AlertLine]
    staffing: str | None

    @property
    def state(self) -> str:
        """``firing``, ``pending`` or ``ok``: the worst state of the queue's alerts."""
        states = {a.state for a in self.alerts if not a.silenced}
        return next((s for s in ("firing", "pending") if s in states), "ok")


@dataclass(frozen=True)
class SourceLine:
    """The health of one configured source."""

    name: str
    up: bool
    detail: str
    alerts: list[AlertLine]


@dataclass(frozen=True)
class StatusPage:
    """The whole page."""

    generated_at: str
    queues: list[QueueCard]
    hidden: int
    sources: list[SourceLine]

    @property
    def firing(self) -> int:
        """Queues with an unsilenced firing alert."""
        return sum(1 for q in self.queues if q.state == "firing")


def build_page(view: StoreView, now: datetime) -> StatusPage:
    """The page for ``view`` at ``now``: queues in trouble first, then the biggest."""
    alerts = _alerts_by_key(view.instances, view.silences, now)
    cards = [
        _card(view, row, alerts.get((row["source"], row["queue"]), []), now) for row in view.latest
    ]
    order = {"firing": 0, "pending": 1, "ok": 2}
    cards.sort(key=lambda c: (order[c.state], -c.backlog, c.source, c.queue))
    sources = [
        SourceLine(
            name,
            *_health(view.health.get(name), now),
            alerts=alerts.get((name, ""), []),
        )
        for name in view.sources
    ]
    return StatusPage(
        generated_at=instant(now),
        queues=cards[:MAX_QUEUES],
        hidden=max(0, len(cards) - MAX_QUEUES),
        sources=sources,
    )


def _card(
    view: StoreView, row: Mapping[str, Any], alerts: list[AlertLine], now: datetime
) -> QueueCard:
    key = (row["source"], row["queue"])
    limits = view.limits.get(key, ())
    limit = min(limits, key=lambda x: x.limit) if limits else None
    forecast = view.forecasts.get(key)
    band = _band(forecast) if forecast is not None else []
    staffing = view.staffing.get(key, {})
    return QueueCard(
        source=key[0],
        queue=key[1],
        backlog=int(row["open_total"]),
        as_of=ago(now - row["ts"]),
        limit=limit,
        chart=sparkline(view.trends.get(key, []), band, limit.limit if limit else None, now),
        breach=_breach(forecast, now) if forecast is not None else None,
        sla=_sla(row),
        alerts=alerts,
        staffing=staffing.get("summary") or None,
    )


def _alerts_by_key(
    instances: Sequence[AlertInstance], silences: Sequence[Silence], now: datetime
) -> dict[Key, list[AlertLine]]:
    out: dict[Key, list[AlertLine]] = {}
    active = (AlertState.FIRING, AlertState.PENDING)
    for inst in sorted(instances, key=lambda i: (i.state is not AlertState.FIRING, i.rule)):
        if inst.state not in active:
            continue
        started = inst.fired_at if inst.state is AlertState.FIRING else inst.active_since
        line = AlertLine(
            name=inst.rule,
            severity=inst.labels.get("severity", ""),
            state=inst.state.value,
            since=ago(now - started) if started is not None else "",
            # The state reason says what was measured against what; annotations are left
            # out, since a configuration may put anything in them.
            summary=inst.state_reason,
            silenced=bool(silenced_by(inst.labels, silences, now)),
        )
        key = (inst.labels.get("source", ""), inst.labels.get("queue", ""))
        out.setdefault(key, []).append(line)
    return out


def _band(forecast: Mapping[str, Any]) -> list[tuple[datetime, float, float, float]]:
    """``(instant, lower, point, upper)`` per forecast hour (step k is ``made_at + k h``)."""
    made: datetime = forecast["made_at"]
    steps = zip(forecast["lower"], forecast["point"], forecast["upper"], strict=False)
    return [
        (made + (k + 1) * HOUR, float(lo), float(mid), float(hi))
        for k, (lo, mid, hi) in enumerate(steps)
        if k < FORECAST_HOURS
    ]


def _breach(forecast: Mapping[str, Any], now: datetime) -> str:
    """When the forecast band first crosses each forecast rule's limit, in words."""
    etas = (forecast.get("detail") or {}).get("eta_seconds") or {}
    made: datetime = forecast["made_at"]
    crossing = [made + timedelta(seconds=s) for s in etas.values() if s is not None]
    if not crossing:
        return "no breach forecast" if etas else "no forecast rule"
    first = min(crossing)
    return "limit crossed now" if first <= now else f"limit crossed in {duration(first - now)}"


def _sla(row: Mapping[str, Any]) -> list[str]:
    breached = row.get("sla_breached_open") or {}
    at_risk = row.get("sla_at_risk") or {}
    lines = []
    for kind in sorted({*breached, *at_risk}):
        name = kind.replace("_", " ")
        lines.append(f"{breached.get(kind, 0):,} past {name} SLA, {at_risk.get(kind, 0):,} at risk")
    return lines


def _health(state: Any, now: datetime) -> tuple[bool, str]:
    if state is None:
        return False, "not polled yet"
    if state.up:
        return True, f"polled {ago(now - state.last_success_at)}"
    reason = state.last_error_reason or "error"
    last = ago(now - state.last_success_at) if state.last_success_at else "never"
    return False, f"{state.consecutive_failures} failed poll(s) ({reason}); last success {last}"


def duration(span: timedelta) -> str:
    """``span`` in words, rounded: ``45 min``, ``3 h 20 min``, ``2 d 4 h``."""
    minutes = max(0, round(span.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(span: timedelta) -> str:
    """``span`` before now, in words (``just now`` under a minute)."""
    return "just now" if span < timedelta(minutes=1) else f"{duration(span)} ago"


def instant(when: datetime) -> str:
    """An aware instant in UTC, to the minute."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
