"""Turning a tick's alert changes into outbox notifications: direct, or routed and grouped.

Without a ``route`` in the configuration every FIRING/RESOLVED transition goes to the
rule's receivers (all by default), one notification per alert. With a route, every
alert goes through Alertmanager-style routing and aggregation groups (``group_wait``,
``group_interval``, ``repeat_interval``). Silences and time intervals apply to both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from alerting.engine import TickResult
from alerting.grouping import AlertView, notification, plan
from alerting.notifications import Notification, annotations_for, build
from alerting.resourcing import Suggestion
from alerting.routing import is_muted, match
from alerting.rules import RuleBase, WipLimitRule
from alerting.silences import Silence, SilenceState, silenced_by, state
from alerting.state import AlertInstance, AlertState, Transition
from config.settings import Settings
from monitor.store import notifying as store


def notifications(
    conn: sa.Connection,
    settings: Settings,
    rules: Mapping[str, RuleBase],
    instances: Mapping[str, AlertInstance],
    result: TickResult,
    now: datetime,
) -> list[Notification]:
    """The notifications this tick causes (group state is saved on ``conn``)."""
    active = [s for s in store.load_silences(conn) if state(s, now) is SilenceState.ACTIVE]
    if settings.route is None:
        direct = [n for n in result.notifications if not _silenced(n, active, now)]
        return direct + _alertmanager_resends(settings, rules, instances, result, now, active)
    current = {**instances, **{i.fingerprint: i for i in result.changed}}
    views = [
        view
        for inst in current.values()
        if inst.rule in rules
        and (view := AlertView.of(inst, annotations_for(rules[inst.rule], inst))) is not None
    ]
    intervals = {t.name: t for t in settings.time_intervals}
    route = settings.route
    before = store.load_groups(conn)
    groups, dispatches = plan(
        before,
        views,
        now,
        routes_for=lambda labels: match(route, labels),
        muted=partial(is_muted, intervals=intervals),
        silenced=lambda labels: bool(silenced_by(labels, active, now)),
    )
    store.save_groups(conn, before, groups)
    return [notification(d, settings.http.external_url) for d in dispatches]


def _silenced(note: Notification, active: Sequence[Silence], now: datetime) -> bool:
    """A firing notification whose alert is silenced is not sent; resolutions still are."""
    if note.payload.get("status") != "firing":
        return False
    labels = note.payload.get("commonLabels", {})
    return bool(silenced_by(labels, active, now))


def attach_suggestions(
    notes: Sequence[Notification], suggestions: Mapping[tuple[str, str], Suggestion]
) -> list[Notification]:
    """Firing alerts carry the staffing suggestion of their queue (text and fields)."""

    def found(labels: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
        hit = suggestions.get((labels.get("source", ""), labels.get("queue", "")))
        return None if hit is None else (hit.summary, hit.to_payload(f"{hit.queue}-suggestion"))

    return _attach(notes, "suggestion", found)


def attach_rebalancing(
    notes: Sequence[Notification],
    rules: Sequence[RuleBase],
    series: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    now: datetime,
) -> list[Notification]:
    """Firing WIP-limit alerts carry their queue's rebalancing suggestion (text and
    fields), as the staffing suggestion rides on the others."""
    wip = {r.name: r for r in rules if isinstance(r, WipLimitRule) and r.per == "agent"}

    def found(labels: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
        rule = wip.get(labels.get("alertname", ""))
        key = (labels.get("source", ""), labels.get("queue", ""))
        plan = None if rule is None else rule.plan(series.get(key, ()), now, key)
        return None if plan is None else (plan.summary, plan.to_payload())

    return _attach(notes, "rebalance", found) if wip else list(notes)


def _attach(
    notes: Sequence[Notification],
    name: str,
    found: Callable[[Mapping[str, str]], tuple[str, dict[str, Any]] | None],
) -> list[Notification]:
    """Each firing alert of the notes gains annotation and field ``name`` when ``found``."""
    out = []
    for note in notes:
        payload = note.payload
        if payload.get("status") != "firing" or "alerts" not in payload:
            out.append(note)
            continue
        alerts = []
        for alert in payload["alerts"]:
            hit = found(alert.get("labels", {})) if alert.get("status") == "firing" else None
            if hit is not None:
                text, fields = hit
                alert = {**alert, "annotations": {**alert["annotations"], name: text}, name: fields}
            alerts.append(alert)
        out.append(replace(note, payload={**payload, "alerts": alerts}))
    return out


RESEND = timedelta(minutes=1)
"""Alertmanager forgets a firing alert whose endsAt passes: re-send it every minute."""


def _alertmanager_resends(
    settings: Settings,
    rules: Mapping[str, RuleBase],
    instances: Mapping[str, AlertInstance],
    result: TickResult,
    now: datetime,
    active: Sequence[Silence],
) -> list[Notification]:
    """One re-send per minute slot of every firing alert to each Alertmanager receiver.

    The key names the slot, so re-running a tick adds nothing; Alertmanager itself
    deduplicates alerts by their labels.
    """
    managers = {r.name for r in settings.receivers if r.kind == "alertmanager"}
    if not managers:
        return []
    current = {**instances, **{i.fingerprint: i for i in result.changed}}
    slot = int(now.timestamp() // RESEND.total_seconds())
    out = []
    for inst in current.values():
        rule = rules.get(inst.rule)
        if rule is None or inst.state is not AlertState.FIRING:
            continue
        if silenced_by(inst.labels, active, now):
            continue
        targets = managers & set(rule.receivers if rule.receivers is not None else managers)
        for receiver in sorted(targets):
            note = build(rule, inst, Transition.FIRING, receiver, settings.http.external_url)
            key = f"resend_{inst.fingerprint}_{slot}_{receiver}"
            out.append(
                replace(note, idempotency_key=key, payload={**note.payload, "idempotencyKey": key})
            )
    return out
