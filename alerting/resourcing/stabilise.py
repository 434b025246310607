"""Anti-flap: turn a noisy raw recommendation into a stable one, one tick at a time.

Modelled on the HPA's behaviour (tolerance, scale-down stabilisation window keeping
the *highest* recommendation, rate policies) and AWS cooldowns. A recommendation
webhook goes out only when :func:`Stabiliser.step` returns a :class:`Change`.

The controls, in the order they are applied:

1. Clamp the raw value to ``[minimum, maximum]`` and remember it for the window.
2. Scale-down candidate: the *maximum* raw value over ``scale_down_window``.
3. Dead band: ignore a move of at most ``max(dead_band x current, dead_band_abs)``.
4. Scale-up delay: the raw value must stay above the band for ``scale_up_delay + 1`` ticks;
   the target is the lowest raw value of those ticks.
5. Scale-down is blocked while the status is ``block_scale_down_from`` or worse, or the
   oldest ticket is past ``block_age_ratio`` of its SLA.
6. Cooldown: no change within ``cooldown`` of the last one, except that a scale-up may
   cut a scale-down's cooldown short (as AWS's ``ScaleInCooldown``).
7. Largest step: ``max(max_step_up, ceil(current x max_step_up_ratio))`` up,
   ``max_step_down`` down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from alerting.resourcing.status import QueueStatus


class Direction(StrEnum):
    INITIAL = "initial"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Policy:
    """Anti-flap settings for one kind of resource (see :data:`DEFAULTS`)."""

    dead_band: float
    dead_band_abs: int = 0
    scale_up_delay: int = 0
    scale_down_window: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)
    max_step_up: int | None = None
    max_step_up_ratio: float | None = None
    max_step_down: int | None = None
    block_scale_down_from: QueueStatus | None = None
    block_age_ratio: float | None = None
    minimum: int = 0
    maximum: int | None = None


DEFAULTS: dict[str, Policy] = {
    # HPA: tolerance 0.1, up by max(4 pods, 100%), 300 s scale-down window. The
    # table allows 0-2 ticks of scale-up delay; 2 keeps a noisy flat queue from flapping.
    "pods": Policy(
        dead_band=0.10,
        scale_up_delay=2,
        scale_down_window=timedelta(seconds=300),
        cooldown=timedelta(seconds=60),
        max_step_up=4,
        max_step_up_ratio=1.0,
    ),
    # People need lead time: 15% or ±1 agent, 2 ticks, 60 min window, 30 min cooldown.
    "humans": Policy(
        dead_band=0.15,
        dead_band_abs=1,
        scale_up_delay=2,
        scale_down_window=timedelta(minutes=60),
        cooldown=timedelta(minutes=30),
        max_step_up=5,
        max_step_down=3,
        block_scale_down_from=QueueStatus.WARN,
        block_age_ratio=0.8,
    ),
}
"""Defaults per resource type, from the reference's anti-flap table (§4.4)."""


@dataclass(frozen=True)
class StabiliserState:
    """Everything the stabiliser remembers between ticks (persist it to survive restarts).

    Attributes:
        value: the stabilised recommendation last published; None before the first tick.
        changed_at: when ``value`` last changed (start of the cooldown).
        last_direction: the direction of that change.
        up_streak: consecutive ticks the raw value stood above the dead band.
        recent: ``(ts, raw)`` recommendations inside the scale-down window.
        reason: why the last tick held or changed, in words.
    """

    value: int | None = None
    changed_at: datetime | None = None
    last_direction: Direction | None = None
    up_streak: int = 0
    recent: tuple[tuple[datetime, int], ...] = field(default=())
    reason: str = ""


@dataclass(frozen=True)
class Change:
    """The stabilised value changed: send a recommendation."""

    previous: int | None
    value: int
    direction: Direction
    raw: int
    reason: str


@dataclass(frozen=True)
class Stabiliser:
    """A pure stabiliser; all memory lives in :class:`StabiliserState`."""

    policy: Policy

    def step(
        self,
        state: StabiliserState,
        raw_desired: int,
        status: QueueStatus,
        now: datetime,
        *,
        oldest_age_ratio: float | None = None,
    ) -> tuple[StabiliserState, Change | None]:
        """Advance by one tick at ``now``.

        Args:
            state: the state after the previous tick.
            raw_desired: this tick's unsmoothed recommendation.
            status: the queue's Burrow-style status.
            now: tick time.
            oldest_age_ratio: oldest ticket age ÷ its SLA, when known.
        """
        raw = self._clamp(raw_desired)
        horizon = now - self.policy.scale_down_window
        recent = (*((ts, v) for ts, v in state.recent if ts > horizon), (now, raw))
        state = replace(state, recent=recent)
        current = state.value
        if current is None:
            return self._change(state, raw, raw, Direction.INITIAL, now, "first recommendation")
        if raw > current + self._band(current):
            return self._up(replace(state, up_streak=state.up_streak + 1), raw, now)
        state = replace(state, up_streak=0)
        keep = max(v for _, v in recent)  # the highest recommendation in the window
        if keep < current - self._band(current):
            return self._down(state, keep, raw, status, now, oldest_age_ratio)
        return self._hold(
            state, f"within the dead band of {current} (raw {raw}, window max {keep})"
        )

    def _band(self, current: int) -> float:
        return max(self.policy.dead_band * current, float(self.policy.dead_band_abs))

    def _clamp(self, raw: int) -> int:
        top = self.policy.maximum if self.policy.maximum is not None else raw
        return max(self.policy.minimum, min(top, raw))

    def _cooling(self, state: StabiliserState, now: datetime, direction: Direction) -> bool:
        if state.changed_at is None or now - state.changed_at >= self.policy.cooldown:
            return False
        return not (direction is Direction.UP and state.last_direction is Direction.DOWN)

    def _up(
        self, state: StabiliserState, raw: int, now: datetime
    ) -> tuple[StabiliserState, Change | None]:
        assert state.value is not None
        if state.up_streak <= self.policy.scale_up_delay:
            return self._hold(state, f"scale-up delay: tick {state.up_streak} above the band")
        if self._cooling(state, now, Direction.UP):
            return self._hold(state, f"cooldown since {state.changed_at}")
        # Scale up only to the level held through the delay (the HPA's scale-up window
        # keeps the lowest recommendation), so one spike does not set the target.
        raw = min(v for _, v in state.recent[-state.up_streak :])
        p, current = self.policy, state.value
        caps = [c for c in (p.max_step_up,) if c is not None]
        if p.max_step_up_ratio is not None:
            caps.append(math.ceil(current * p.max_step_up_ratio))
        target = min(raw, current + max(caps)) if caps else raw
        return self._change(state, target, raw, Direction.UP, now, f"raw {raw} above {current}")

    def _down(
        self,
        state: StabiliserState,
        keep: int,
        raw: int,
        status: QueueStatus,
        now: datetime,
        oldest_age_ratio: float | None,
    ) -> tuple[StabiliserState, Change | None]:
        assert state.value is not None
        p, current = self.policy, state.value
        if p.block_scale_down_from is not None and status.at_least(p.block_scale_down_from):
            return self._hold(state, f"scale-down blocked while status is {status}")
        limit, ratio = p.block_age_ratio, oldest_age_ratio
        if limit is not None and ratio is not None and ratio > limit:
            return self._hold(state, f"scale-down blocked: oldest ticket at {ratio:.0%} of SLA")
        if self._cooling(state, now, Direction.DOWN):
            return self._hold(state, f"cooldown since {state.changed_at}")
        target = keep if p.max_step_down is None else max(keep, current - p.max_step_down)
        reason = f"window max {keep} below {current}"
        return self._change(state, target, raw, Direction.DOWN, now, reason)

    @staticmethod
    def _hold(state: StabiliserState, reason: str) -> tuple[StabiliserState, None]:
        return replace(state, reason=reason), None

    @staticmethod
    def _change(
        state: StabiliserState,
        value: int,
        raw: int,
        direction: Direction,
        now: datetime,
        reason: str,
    ) -> tuple[StabiliserState, Change]:
        new = replace(
            state,
            value=value,
            changed_at=now,
            last_direction=direction,
            up_streak=0,
            reason=reason,
        )
        return new, Change(state.value, value, direction, raw, reason)
