"""Aggregation groups (Alertmanager's dispatcher and dedup stage) as one pure function.

Each tick, :func:`plan` routes every alert, sorts it into groups (route id plus the values
of the route's ``group_by`` labels) and flushes the groups whose timer is due:
``group_wait`` after a group opens, then every ``group_interval``. A flush notifies only
when something changed for the receiver (:class:`NotifyReason`), or when
``repeat_interval`` elapsed while alerts fire. Silenced alerts are left out; a muted route
flushes without notifying and keeps its state, so it catches up once unmuted. Resolved
alerts are sent once (when ``send_resolved``) and then dropped from the group.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from alerting.notifications import ZERO_TIME, Notification, iso
from alerting.routing import RouteMatch
from alerting.state import AlertInstance, AlertState


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class NotifyReason(StrEnum):
    """Why a group is notified (a metric label); ``notification_reason`` is Alertmanager's."""

    FIRST = "first"
    NEW_ALERTS = "new_alerts"
    SOME_RESOLVED = "some_resolved"
    ALL_RESOLVED = "all_resolved"
    REPEAT = "repeat"

    @property
    def notification_reason(self) -> str:
        return _AM_REASONS[self]


_AM_REASONS = {
    NotifyReason.FIRST: "first notification",
    NotifyReason.NEW_ALERTS: "new alerts added",
    NotifyReason.SOME_RESOLVED: "some alerts resolved",
    NotifyReason.ALL_RESOLVED: "all alerts resolved",
    NotifyReason.REPEAT: "repeat interval elapsed",
}


@dataclass(frozen=True)
class AlertView:
    """A snapshot of one firing or resolved alert, as grouping and payloads need it."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None = None
    fire_value: float | None = None
    current_value: float | None = None
    state_reason: str = ""

    @classmethod
    def of(cls, instance: AlertInstance, annotations: Mapping[str, str]) -> AlertView | None:
        """The view of a firing instance, or of one that fired and resolved since.

        An instance pending again after resolving is still a resolved alert here, so its
        group can send the resolution. None for instances that never fired.
        """
        firing = instance.state is AlertState.FIRING
        if instance.fired_at is None or not (firing or instance.resolved_at is not None):
            return None
        return cls(
            fingerprint=instance.fingerprint,
            labels=dict(instance.labels),
            annotations=dict(annotations),
            status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            starts_at=instance.fired_at,
            ends_at=None if firing else instance.resolved_at,
            fire_value=instance.fire_value,
            current_value=instance.last_value,
            state_reason=instance.state_reason,
        )


@dataclass(frozen=True)
class GroupState:
    """One aggregation group, persisted between ticks.

    Attributes:
        key: route id plus group label values, e.g. ``/0:{queue="Billing"}``.
        first_seen_at: when the group opened; part of every idempotency key, so a group
            that closes and reopens never reuses a key.
        next_flush_at: when the group is next evaluated for a notification.
        firing_notified: fingerprints the receiver was last told are firing.
        resolved_notified: fingerprints in the last notification as resolved.
        last_notified_at: the last notification (None: never notified).
        sequence: how many notifications the group sent.
    """

    key: str
    route_id: str
    receiver: str
    labels: Mapping[str, str]
    first_seen_at: datetime
    next_flush_at: datetime
    firing_notified: frozenset[str] = frozenset()
    resolved_notified: frozenset[str] = frozenset()
    last_notified_at: datetime | None = None
    sequence: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form for the store."""
        return {
            "key": self.key,
            "route_id": self.route_id,
            "receiver": self.receiver,
            "labels": dict(self.labels),
            "first_seen_at": self.first_seen_at.isoformat(),
            "next_flush_at": self.next_flush_at.isoformat(),
            "firing_notified": sorted(self.firing_notified),
            "resolved_notified": sorted(self.resolved_notified),
            "last_notified_at": self.last_notified_at.isoformat()
            if self.last_notified_at
            else None,
            "sequence": self.sequence,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupState:
        """The inverse of :meth:`to_json`."""
        last = data.get("last_notified_at")
        return cls(
            key=data["key"],
            route_id=data["route_id"],
            receiver=data["receiver"],
            labels=dict(data["labels"]),
            first_seen_at=datetime.fromisoformat(data["first_seen_at"]),
            next_flush_at=datetime.fromisoformat(data["next_flush_at"]),
            firing_notified=frozenset(data["firing_notified"]),
            resolved_notified=frozenset(data["resolved_notified"]),
            last_notified_at=datetime.fromisoformat(last) if last else None,
            sequence=int(data["sequence"]),
        )


@dataclass(frozen=True)
class Dispatch:
    """One notification to enqueue: a group's firing and resolved alerts."""

    receiver: str
    group_key: str
    route_id: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertView, ...]
    reason: NotifyReason
    idempotency_key: str
    sequence: int

    @property
    def status(self) -> AlertStatus:
        firing = any(a.status is AlertStatus.FIRING for a in self.alerts)
        return AlertStatus.FIRING if firing else AlertStatus.RESOLVED


Router = Callable[[Mapping[str, str]], Sequence[RouteMatch]]
Muter = Callable[[RouteMatch, datetime], bool]
Silencer = Callable[[Mapping[str, str]], bool]


@dataclass
class _Members:
    match: RouteMatch
    labels: dict[str, str]
    firing: list[AlertView] = field(default_factory=list)
    resolved: list[AlertView] = field(default_factory=list)


def plan(
    groups: Mapping[str, GroupState],
    alerts: Sequence[AlertView],
    now: datetime,
    routes_for: Router,
    muted: Muter,
    silenced: Silencer,
    send_resolved: Callable[[str], bool] = lambda receiver: True,
) -> tuple[dict[str, GroupState], list[Dispatch]]:
    """Advance every group to ``now``: the groups to persist and the notifications to send.

    Args:
        groups: the persisted groups by key (empty at first start).
        alerts: every firing alert, and resolved alerts at least until their group sent them.
        now: the tick's instant; the same inputs always give the same outputs.
        routes_for: the routes an alert's labels reach (:func:`alerting.routing.match`).
        muted: whether a route is muted at ``now`` (:func:`alerting.routing.is_muted`).
        silenced: whether an alert's labels are silenced at ``now``.
        send_resolved: whether a receiver wants resolved alerts (default: all do).

    Groups left without alerts are dropped (their key is absent from the result).
    """
    members = _collect(groups, alerts, routes_for)
    kept: dict[str, GroupState] = {}
    dispatches: list[Dispatch] = []
    for key in sorted(members):
        group = groups.get(key) or _open(key, members[key], now)
        resolved_too = send_resolved(members[key].match.receiver)
        kept[key], dispatch = _advance(group, members[key], now, muted, silenced, resolved_too)
        if dispatch is not None:
            dispatches.append(dispatch)
    return kept, dispatches


def group_key(match: RouteMatch, labels: Mapping[str, str]) -> str:
    """``<route id>:{name="value", ...}`` with the group labels sorted."""
    body = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items()))
    return f"{match.route_id}:{{{body}}}"


def _collect(
    groups: Mapping[str, GroupState], alerts: Sequence[AlertView], routes_for: Router
) -> dict[str, _Members]:
    """Alerts by group key; a resolved alert only where it was notified as firing."""
    members: dict[str, _Members] = {}
    for alert in sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint)):
        firing = alert.status is AlertStatus.FIRING
        for match in routes_for(alert.labels):
            labels = match.group_labels(alert.labels)
            key = group_key(match, labels)
            known = groups.get(key)
            if not firing and (known is None or alert.fingerprint not in known.firing_notified):
                continue
            entry = members.setdefault(key, _Members(match, labels))
            (entry.firing if firing else entry.resolved).append(alert)
    return members


def _open(key: str, members: _Members, now: datetime) -> GroupState:
    """A new group flushes after ``group_wait``, at once if its oldest alert waited that long."""
    wait = members.match.group_wait
    overdue = min(a.starts_at for a in members.firing) + wait <= now
    return GroupState(
        key=key,
        route_id=members.match.route_id,
        receiver=members.match.receiver,
        labels=members.labels,
        first_seen_at=now,
        next_flush_at=now if overdue else now + wait,
    )


def _advance(
    group: GroupState,
    members: _Members,
    now: datetime,
    muted: Muter,
    silenced: Silencer,
    send_resolved: bool,
) -> tuple[GroupState, Dispatch | None]:
    match = members.match
    group = replace(group, receiver=match.receiver)
    if now < group.next_flush_at:
        return group, None
    flushed = replace(group, next_flush_at=now + match.group_interval)
    if muted(match, now):
        return flushed, None
    firing = [a for a in members.firing if not silenced(a.labels)]
    quiet = _fingerprints(members.firing) - _fingerprints(firing)
    resolved = members.resolved if send_resolved else []
    reason = _reason(group, firing, resolved, bool(quiet), now, match.repeat_interval)
    if reason is None:
        still = group.firing_notified & _fingerprints(members.firing)
        return replace(flushed, firing_notified=still), None
    return _notify(flushed, reason, firing, resolved, quiet, now)


def _notify(
    group: GroupState,
    reason: NotifyReason,
    firing: Sequence[AlertView],
    resolved: Sequence[AlertView],
    quiet: frozenset[str],
    now: datetime,
) -> tuple[GroupState, Dispatch]:
    """The dispatch, and the group remembering what the receiver now knows."""
    sequence = group.sequence + 1
    key = idempotency_key(group, sequence)
    alerts = (*firing, *resolved)
    dispatch = Dispatch(
        group.receiver, group.key, group.route_id, group.labels, alerts, reason, key, sequence
    )
    notified = replace(
        group,
        firing_notified=_fingerprints(firing) | (group.firing_notified & quiet),
        resolved_notified=_fingerprints(resolved),
        last_notified_at=now,
        sequence=sequence,
    )
    return notified, dispatch


def _reason(
    group: GroupState,
    firing: Sequence[AlertView],
    resolved: Sequence[AlertView],
    quiet: bool,
    now: datetime,
    repeat_interval: timedelta,
) -> NotifyReason | None:
    """Alertmanager's ``needsUpdate``; ``resolved`` is empty when the receiver skips them."""
    if group.last_notified_at is None:
        return NotifyReason.FIRST if firing else None
    if _fingerprints(firing) - group.firing_notified:
        return NotifyReason.NEW_ALERTS
    if resolved:
        return NotifyReason.SOME_RESOLVED if firing or quiet else NotifyReason.ALL_RESOLVED
    if firing and now - group.last_notified_at >= repeat_interval:
        return NotifyReason.REPEAT
    return None


def _fingerprints(alerts: Sequence[AlertView]) -> frozenset[str]:
    return frozenset(a.fingerprint for a in alerts)


def idempotency_key(group: GroupState, sequence: int) -> str:
    """Stable for a group's n-th notification: the same tick re-run gives the same key."""
    raw = f"{group.receiver}|{group.key}|{iso(group.first_seen_at)}|{sequence}"
    return "grp_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def payload(dispatch: Dispatch, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for the group, plus our values and key."""
    return {
        "version": "4",
        "groupKey": dispatch.group_key,
        "truncatedAlerts": 0,
        "status": dispatch.status.value,
        "receiver": dispatch.receiver,
        "groupLabels": dict(dispatch.group_labels),
        "commonLabels": _common([a.labels for a in dispatch.alerts]),
        "commonAnnotations": _common([a.annotations for a in dispatch.alerts]),
        "externalURL": external_url,
        "notification_reason": dispatch.reason.notification_reason,
        "idempotencyKey": dispatch.idempotency_key,
        "alerts": [_alert(a, external_url) for a in dispatch.alerts],
    }


def notification(dispatch: Dispatch, external_url: str = "") -> Notification:
    """The outbox message for ``dispatch`` (event ``alert.firing`` or ``alert.resolved``)."""
    return Notification(
        receiver=dispatch.receiver,
        idempotency_key=dispatch.idempotency_key,
        event=f"alert.{dispatch.status.value}",
        payload=payload(dispatch, external_url),
    )


def _alert(alert: AlertView, external_url: str) -> dict[str, Any]:
    resolved = alert.status is AlertStatus.RESOLVED
    return {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.ends_at) if resolved else ZERO_TIME,
        "generatorURL": external_url,
        "fingerprint": alert.fingerprint,
        "values": {"fired": alert.fire_value, "current": alert.current_value},
        "stateReason": alert.state_reason,
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map shares (Alertmanager's ``commonLabels``)."""
    if not maps:
        return {}
    shared = dict(maps[0])
    for other in maps[1:]:
        shared = {k: v for k, v in shared.items() if other.get(k) == v}
    return dict(sorted(shared.items()))
