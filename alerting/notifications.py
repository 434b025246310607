"""Notification payloads (pure): what a receiver gets when an alert fires or resolves.

The body follows Alertmanager's webhook format (version 4) for one alert, plus the
fields Alertmanager lacks: the value that fired and the current value, the state
reason, and an idempotency key that stays the same across retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.rules import RuleBase, number, render
from alerting.state import AlertInstance, Transition
from config.durations import format_duration

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not ended."""


@dataclass(frozen=True)
class Notification:
    """One message for one receiver, as written to the outbox."""

    receiver: str
    idempotency_key: str
    event: str
    payload: Mapping[str, Any]


def idempotency_key(receiver: str, instance: AlertInstance, transition: Transition) -> str:
    """Stable across retries and re-evaluations: receiver, identity, transition and its time."""
    when = instance.fired_at if transition is Transition.FIRING else instance.resolved_at
    stamp = _utc(when).isoformat() if when else ""
    raw = f"{receiver}|{instance.fingerprint}|{transition}|{stamp}"
    return "msg_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def iso(when: datetime | None) -> str:
    """RFC 3339 in UTC with a ``Z``."""
    if when is None:
        return ZERO_TIME
    return _utc(when).isoformat().replace("+00:00", "Z")


def _utc(when: datetime) -> datetime:
    """The same instant in UTC (one instant, one text: keys and timestamps must not vary)."""
    return when.astimezone(UTC) if when.tzinfo is not None else when


def annotations_for(rule: RuleBase, instance: AlertInstance) -> dict[str, str]:
    """The rule's annotations with ``{queue}``, ``{value}``, ``{threshold}``... filled in."""
    values: dict[str, Any] = {
        **instance.labels,
        "value": _num(instance.last_value),
        "fire_value": _num(instance.fire_value),
        "threshold": number(rule.threshold),
        "expression": rule.describe(),
        "for": format_duration(rule.for_),
        "window": format_duration(getattr(rule, "window", timedelta(0))),
    }
    rendered = {k: render(v, values) for k, v in rule.annotations.items()}
    rendered.setdefault("summary", f"{rule.name} on {instance.labels.get('queue', '')}")
    return rendered


def build(
    rule: RuleBase,
    instance: AlertInstance,
    transition: Transition,
    receiver: str,
    external_url: str = "",
) -> Notification:
    """The notification of a FIRING or RESOLVED transition for one receiver."""
    status = "firing" if transition is Transition.FIRING else "resolved"
    key = idempotency_key(receiver, instance, transition)
    labels = dict(instance.labels)
    annotations = annotations_for(rule, instance)
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(instance.fired_at),
        "endsAt": iso(instance.resolved_at) if status == "resolved" else ZERO_TIME,
        "generatorURL": external_url,
        "fingerprint": instance.fingerprint,
        "values": {"fired": instance.fire_value, "current": instance.last_value},
        "stateReason": instance.state_reason,
    }
    payload = {
        "version": "4",
        "groupKey": f"{{}}:{{alertname={rule.name!r}, fingerprint={instance.fingerprint!r}}}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": rule.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "notification_reason": (
            "first notification" if status == "firing" else "all alerts resolved"
        ),
        "idempotencyKey": key,
        "alerts": [alert],
    }
    return Notification(
        receiver=receiver, idempotency_key=key, event=f"alert.{status}", payload=payload
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None else number(value)
