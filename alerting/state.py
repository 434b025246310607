"""The alert state machine: one pure function, :func:`step`, does every transition.

States follow Prometheus (``rules/alerting.go``) with ``resolved`` kept as its own
state so a restart knows an instance fired before. Unlike Prometheus, the whole
instance is persisted and restored, whatever the rule's ``for``; and an evaluation
that has no data or failed never changes the state (a failed poll is not zero).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Transition(StrEnum):
    """A state change worth recording; FIRING and RESOLVED are notified."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"  # pending, then the condition cleared before ``for`` elapsed


NOTIFIED: frozenset[Transition] = frozenset({Transition.FIRING, Transition.RESOLVED})

ALLOWED: frozenset[tuple[AlertState, AlertState]] = frozenset(
    {
        (AlertState.INACTIVE, AlertState.PENDING),
        (AlertState.INACTIVE, AlertState.FIRING),  # for: 0
        (AlertState.PENDING, AlertState.FIRING),
        (AlertState.PENDING, AlertState.INACTIVE),
        (AlertState.FIRING, AlertState.RESOLVED),
        (AlertState.RESOLVED, AlertState.PENDING),
        (AlertState.RESOLVED, AlertState.FIRING),  # for: 0
    }
)
"""Every state change :func:`step` may make; tests walk this table."""


@dataclass(frozen=True)
class Breaching:
    """The condition holds; ``value`` is what was compared."""

    value: float
    reason: str = ""


@dataclass(frozen=True)
class Ok:
    """The condition does not hold."""

    value: float
    reason: str = ""


@dataclass(frozen=True)
class NoData:
    """The query succeeded but there is nothing to compare."""

    reason: str = "no data"


@dataclass(frozen=True)
class EvalError:
    """The data could not be read (for example, the source's last poll failed)."""

    reason: str = "error"


Outcome = Breaching | Ok | NoData | EvalError


@dataclass(frozen=True)
class Timing:
    """The parts of a rule the state machine needs."""

    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    max_gap: timedelta | None = None
    """The most time one gap between evaluations counts towards ``for`` and
    ``keep_firing_for`` (None: all of it); see :func:`bridge`."""


@dataclass(frozen=True)
class AlertInstance:
    """One alert instance (a rule applied to one label set).

    Attributes:
        fingerprint: hash of the sorted final label set; the identity.
        rule: the rule's name.
        labels: the final label set (alertname included).
        state: where the instance is now.
        active_since: when the condition started to hold (start of pending).
        fired_at: when it last turned firing (``startsAt`` of notifications).
        resolved_at: when it last resolved.
        keep_firing_since: when the condition cleared while ``keep_firing_for`` holds it.
        fire_value: the value that made it fire.
        last_value: the latest value evaluated.
        last_eval_at: the latest evaluation.
        state_reason: why the instance is in its state, in words.
    """

    fingerprint: str
    rule: str
    labels: Mapping[str, str]
    state: AlertState = AlertState.INACTIVE
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    keep_firing_since: datetime | None = None
    fire_value: float | None = None
    last_value: float | None = None
    last_eval_at: datetime | None = None
    state_reason: str = ""

    @classmethod
    def new(cls, rule: str, labels: Mapping[str, str]) -> AlertInstance:
        """A fresh, inactive instance for ``labels``."""
        return cls(fingerprint=fingerprint(labels), rule=rule, labels=dict(labels))


def fingerprint(labels: Mapping[str, str]) -> str:
    """Identity of an alert: SHA-256 of its sorted label set (16 hex digits)."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def step(
    instance: AlertInstance, outcome: Outcome, now: datetime, timing: Timing
) -> tuple[AlertInstance, Transition | None]:
    """Advance ``instance`` by one evaluation at ``now``."""
    instance = bridge(instance, now, timing.max_gap)
    if isinstance(outcome, NoData | EvalError):
        reason = f"{outcome.reason}: keeping state {instance.state}"
        return replace(instance, last_eval_at=now, state_reason=reason), None
    current = replace(instance, last_value=outcome.value, last_eval_at=now)
    if isinstance(outcome, Breaching):
        return _on_breach(current, outcome, now, timing)
    return _on_ok(current, outcome, now, timing)


def bridge(instance: AlertInstance, now: datetime, max_gap: timedelta | None) -> AlertInstance:
    """Carry the time a condition has held across a clock jump.

    The clock went back (``now`` before the latest evaluation): the time already held
    is kept, so a pending ``for`` neither restarts nor waits for the clock to catch up.
    The clock jumped forward (or evaluations stopped) by more than ``max_gap``: only
    ``max_gap`` of that gap counts, so a jump does not fire every pending alert at once
    nor end every ``keep_firing_for``.
    """
    if instance.last_eval_at is None:
        return instance
    gap = now - instance.last_eval_at
    if gap < timedelta(0):
        shift = gap
    elif max_gap is not None and gap > max_gap:
        shift = gap - max_gap
    else:
        return instance
    return replace(
        instance,
        active_since=None if instance.active_since is None else instance.active_since + shift,
        keep_firing_since=None
        if instance.keep_firing_since is None
        else instance.keep_firing_since + shift,
    )


def _on_breach(
    inst: AlertInstance, outcome: Breaching, now: datetime, timing: Timing
) -> tuple[AlertInstance, Transition | None]:
    if inst.state is AlertState.FIRING:
        return replace(inst, keep_firing_since=None, state_reason=outcome.reason), None
    if inst.state is AlertState.PENDING:
        assert inst.active_since is not None
        if now - inst.active_since >= timing.for_:
            return _fire(inst, outcome, now, timing)
        return replace(inst, state_reason=f"{outcome.reason}; pending"), None
    started = replace(inst, state=AlertState.PENDING, active_since=now, keep_firing_since=None)
    if timing.for_ <= timedelta(0):
        return _fire(started, outcome, now, timing)
    return replace(started, state_reason=f"{outcome.reason}; pending"), Transition.PENDING


def _fire(
    inst: AlertInstance, outcome: Breaching, now: datetime, timing: Timing
) -> tuple[AlertInstance, Transition]:
    held = f" for {now - inst.active_since}" if inst.active_since and timing.for_ else ""
    fired = replace(
        inst,
        state=AlertState.FIRING,
        fired_at=now,
        resolved_at=None,
        fire_value=outcome.value,
        state_reason=f"{outcome.reason}{held}",
    )
    return fired, Transition.FIRING


def _on_ok(
    inst: AlertInstance, outcome: Ok, now: datetime, timing: Timing
) -> tuple[AlertInstance, Transition | None]:
    if inst.state is AlertState.PENDING:
        cleared = replace(
            inst, state=AlertState.INACTIVE, active_since=None, state_reason=outcome.reason
        )
        return cleared, Transition.CANCELLED
    if inst.state is not AlertState.FIRING:
        return replace(inst, state_reason=outcome.reason), None
    since = inst.keep_firing_since or now
    if now - since < timing.keep_firing_for:
        kept = f"{outcome.reason}; kept firing since {since.isoformat()}"
        return replace(inst, keep_firing_since=since, state_reason=kept), None
    resolved = replace(
        inst,
        state=AlertState.RESOLVED,
        resolved_at=now,
        active_since=None,
        keep_firing_since=None,
        state_reason=outcome.reason,
    )
    return resolved, Transition.RESOLVED
