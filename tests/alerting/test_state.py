"""The alert state machine: every allowed transition, nothing else, and its timing."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from alerting.state import (
    ALLOWED,
    NOTIFIED,
    AlertInstance,
    AlertState,
    Breaching,
    EvalError,
    NoData,
    Ok,
    Outcome,
    Timing,
    Transition,
    fingerprint,
    step,
)
from tests.fakes import T0

S = AlertState
LABELS = {"alertname": "BacklogHigh", "source": "helpdesk", "queue": "L1", "severity": "warning"}
HIGH, LOW = Breaching(620.0, "avg = 620 > 500"), Ok(410.0, "avg = 410, not > 500")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def inactive() -> AlertInstance:
    return AlertInstance.new("BacklogHigh", LABELS)


def pending(since: datetime = T0) -> AlertInstance:
    return replace(inactive(), state=S.PENDING, active_since=since, last_value=600.0)


def firing(at: datetime = T0, keep_since: datetime | None = None) -> AlertInstance:
    return replace(
        inactive(),
        state=S.FIRING,
        active_since=at,
        fired_at=at,
        fire_value=600.0,
        last_value=600.0,
        keep_firing_since=keep_since,
    )


def resolved(at: datetime = T0) -> AlertInstance:
    return replace(
        inactive(),
        state=S.RESOLVED,
        fired_at=at - H,
        resolved_at=at,
        fire_value=600.0,
        last_value=400.0,
    )


EXPECTED_TRANSITION = {
    S.PENDING: Transition.PENDING,
    S.FIRING: Transition.FIRING,
    S.RESOLVED: Transition.RESOLVED,
    S.INACTIVE: Transition.CANCELLED,
}
"""The transition reported for each target state."""

WALK: dict[tuple[AlertState, AlertState], tuple[AlertInstance, Outcome, datetime, Timing]] = {
    (S.INACTIVE, S.PENDING): (inactive(), HIGH, T0, Timing(for_=H)),
    (S.INACTIVE, S.FIRING): (inactive(), HIGH, T0, Timing()),
    (S.PENDING, S.FIRING): (pending(T0), HIGH, T0 + H, Timing(for_=H)),
    (S.PENDING, S.INACTIVE): (pending(T0), LOW, T0 + 30 * M, Timing(for_=H)),
    (S.FIRING, S.RESOLVED): (firing(T0), LOW, T0 + 2 * H, Timing(for_=H)),
    (S.RESOLVED, S.PENDING): (resolved(T0), HIGH, T0 + H, Timing(for_=H)),
    (S.RESOLVED, S.FIRING): (resolved(T0), HIGH, T0 + H, Timing()),
}
"""For each allowed change, an instance and an evaluation that make it."""


class TestTransitionTable:
    def test_walk_covers_the_table(self) -> None:
        """The walk below has exactly one case per entry of ALLOWED."""
        assert set(WALK) == set(ALLOWED)

    @pytest.mark.parametrize(("change", "case"), WALK.items(), ids=lambda x: str(x))
    def test_allowed_transition(
        self,
        change: tuple[AlertState, AlertState],
        case: tuple[AlertInstance, Outcome, datetime, Timing],
    ) -> None:
        """Each allowed (from, to) pair is produced by its instance and outcome, as stated."""
        before, outcome, now, timing = case
        assert before.state is change[0]
        after, transition = step(before, outcome, now, timing)
        assert after.state is change[1]
        assert transition is EXPECTED_TRANSITION[change[1]]
        assert after.last_eval_at == now

    def test_only_firing_and_resolved_are_notified(self) -> None:
        """FIRING and RESOLVED are the notified transitions; PENDING and CANCELLED are not."""
        assert frozenset({Transition.FIRING, Transition.RESOLVED}) == NOTIFIED


def _variants(state: AlertState) -> list[AlertInstance]:
    """Instances in ``state``, with the timestamps set in the ways that can matter."""
    return {
        S.INACTIVE: [inactive()],
        S.PENDING: [pending(T0)],
        S.FIRING: [firing(T0), firing(T0 - 2 * H, keep_since=T0)],
        S.RESOLVED: [resolved(T0)],
    }[state]


OUTCOMES: list[Outcome] = [HIGH, LOW, Breaching(500.0), Ok(500.0), NoData(), EvalError("down")]
TIMINGS = [
    Timing(timedelta(0), timedelta(0)),
    Timing(H, timedelta(0)),
    Timing(timedelta(0), 30 * M),
    Timing(H, 30 * M),
]
OFFSETS = [timedelta(0), timedelta(seconds=1), 30 * M, H - timedelta(seconds=1), H, 3 * H]


def _exhaustive() -> list[tuple[AlertInstance, Outcome, datetime, Timing]]:
    return [
        (before, outcome, T0 + offset, timing)
        for state in AlertState
        for before in _variants(state)
        for outcome, timing, offset in itertools.product(OUTCOMES, TIMINGS, OFFSETS)
    ]


class TestNothingElse:
    def test_only_allowed_changes(self) -> None:
        """Across states x outcomes x timings x instants, every change is in ALLOWED."""
        seen = set()
        for before, outcome, now, timing in _exhaustive():
            after, _ = step(before, outcome, now, timing)
            if after.state is not before.state:
                change = (before.state, after.state)
                assert change in ALLOWED, f"{change} from {outcome} at {now - T0}, {timing}"
                seen.add(change)
        assert seen == set(ALLOWED)

    def test_transition_reported_iff_state_changes(self) -> None:
        """A transition is returned exactly when the state changes, and names the new state."""
        for before, outcome, now, timing in _exhaustive():
            after, transition = step(before, outcome, now, timing)
            if after.state is before.state:
                assert transition is None, (before.state, outcome, now - T0, timing)
            else:
                assert transition is EXPECTED_TRANSITION[after.state]

    def test_every_evaluation_is_stamped(self) -> None:
        """Every step records when it evaluated, whatever the outcome."""
        for before, outcome, now, timing in _exhaustive():
            after, _ = step(before, outcome, now, timing)
            assert after.last_eval_at == now

    def test_identity_never_changes(self) -> None:
        """No step changes the fingerprint, rule or labels of an instance."""
        for before, outcome, now, timing in _exhaustive():
            after, _ = step(before, outcome, now, timing)
            assert (after.fingerprint, after.rule, after.labels) == (
                before.fingerprint,
                before.rule,
                before.labels,
            )


class TestForTiming:
    def test_pending_until_for_elapsed(self) -> None:
        """With for: 1h a breach goes pending and stays pending for just under an hour."""
        timing = Timing(for_=H)
        inst, transition = step(inactive(), HIGH, T0, timing)
        assert (inst.state, transition, inst.active_since) == (S.PENDING, Transition.PENDING, T0)
        for offset in (M, 30 * M, H - timedelta(seconds=1)):
            inst, transition = step(inst, HIGH, T0 + offset, timing)
            assert (inst.state, transition) == (S.PENDING, None)
            assert inst.active_since == T0

    def test_fires_at_exactly_for(self) -> None:
        """The first evaluation at active_since + for fires, stamped with that instant."""
        inst, transition = step(pending(T0), Breaching(777.0), T0 + H, Timing(for_=H))
        assert (inst.state, transition) == (S.FIRING, Transition.FIRING)
        assert (inst.fired_at, inst.fire_value, inst.active_since) == (T0 + H, 777.0, T0)

    def test_fires_late_evaluation(self) -> None:
        """An evaluation after for has elapsed fires too (evaluations need not align)."""
        inst, transition = step(pending(T0), HIGH, T0 + H + 7 * M, Timing(for_=H))
        assert (inst.state, transition, inst.fired_at) == (
            S.FIRING,
            Transition.FIRING,
            T0 + H + 7 * M,
        )

    def test_dip_resets_for(self) -> None:
        """A single Ok while pending cancels; the next breach starts for from scratch."""
        timing = Timing(for_=H)
        inst, transition = step(pending(T0), LOW, T0 + 50 * M, timing)
        assert (inst.state, transition, inst.active_since) == (
            S.INACTIVE,
            Transition.CANCELLED,
            None,
        )
        inst, transition = step(inst, HIGH, T0 + 55 * M, timing)
        assert (inst.state, transition, inst.active_since) == (
            S.PENDING,
            Transition.PENDING,
            T0 + 55 * M,
        )
        inst, transition = step(inst, HIGH, T0 + H, timing)
        assert (inst.state, transition) == (S.PENDING, None)

    def test_for_zero_fires_immediately(self) -> None:
        """With for: 0 the first breach fires at once, pending only inside the step."""
        inst, transition = step(inactive(), HIGH, T0, Timing())
        assert (inst.state, transition) == (S.FIRING, Transition.FIRING)
        assert (inst.active_since, inst.fired_at, inst.fire_value) == (T0, T0, HIGH.value)

    def test_firing_stays_firing_while_breaching(self) -> None:
        """Further breaches keep firing without a transition and keep the fire value."""
        inst, transition = step(firing(T0), Breaching(900.0), T0 + H, Timing())
        assert (inst.state, transition) == (S.FIRING, None)
        assert (inst.fired_at, inst.fire_value, inst.last_value) == (T0, 600.0, 900.0)


class TestKeepFiringFor:
    def test_holds_then_resolves(self) -> None:
        """keep_firing_for: 30m keeps firing through Ok for 30 minutes, then resolves."""
        timing = Timing(keep_firing_for=30 * M)
        inst, transition = step(firing(T0), LOW, T0 + H, timing)
        assert (inst.state, transition, inst.keep_firing_since) == (S.FIRING, None, T0 + H)
        inst, transition = step(inst, LOW, T0 + H + 29 * M, timing)
        assert (inst.state, transition, inst.keep_firing_since) == (S.FIRING, None, T0 + H)
        inst, transition = step(inst, LOW, T0 + H + 30 * M, timing)
        assert (inst.state, transition) == (S.RESOLVED, Transition.RESOLVED)
        assert (inst.resolved_at, inst.keep_firing_since) == (T0 + H + 30 * M, None)

    def test_breach_restarts_the_hold(self) -> None:
        """A breach during the hold clears it; the next Ok starts a new full hold."""
        timing = Timing(keep_firing_for=30 * M)
        inst, _ = step(firing(T0), LOW, T0 + H, timing)
        inst, transition = step(inst, HIGH, T0 + H + 20 * M, timing)
        assert (inst.state, transition, inst.keep_firing_since) == (S.FIRING, None, None)
        inst, _ = step(inst, LOW, T0 + H + 25 * M, timing)
        inst, transition = step(inst, LOW, T0 + H + 50 * M, timing)
        assert (inst.state, transition) == (S.FIRING, None)
        inst, transition = step(inst, LOW, T0 + H + 55 * M, timing)
        assert (inst.state, transition) == (S.RESOLVED, Transition.RESOLVED)

    def test_without_hold_resolves_at_first_ok(self) -> None:
        """With keep_firing_for: 0 the first Ok resolves."""
        inst, transition = step(firing(T0), LOW, T0 + H, Timing())
        assert (inst.state, transition, inst.resolved_at) == (
            S.RESOLVED,
            Transition.RESOLVED,
            T0 + H,
        )


class TestNoDataAndErrors:
    @pytest.mark.parametrize("outcome", [NoData(), EvalError("source down (timeout)")])
    @pytest.mark.parametrize(
        "before",
        [inactive(), pending(T0), firing(T0), firing(T0 - 2 * H, keep_since=T0), resolved(T0)],
        ids=["inactive", "pending", "firing", "firing-held", "resolved"],
    )
    def test_never_change_state(self, before: AlertInstance, outcome: Outcome) -> None:
        """NoData and EvalError keep every field but the evaluation time and the reason."""
        for timing in TIMINGS:
            after, transition = step(before, outcome, T0 + 3 * H, timing)
            assert transition is None
            assert after == replace(
                before, last_eval_at=T0 + 3 * H, state_reason=after.state_reason
            )
            assert outcome.reason in after.state_reason
            assert str(before.state) in after.state_reason

    def test_failed_poll_never_resolves(self) -> None:
        """A firing alert whose source fails for days is still firing, with its values."""
        inst = firing(T0)
        for hours in range(1, 73):
            inst, transition = step(inst, EvalError("down"), T0 + hours * H, Timing())
            assert transition is None
        assert (inst.state, inst.fire_value, inst.last_value) == (S.FIRING, 600.0, 600.0)

    def test_gap_does_not_reset_pending(self) -> None:
        """Pending survives a gap in the data and fires once the breach is seen after for."""
        timing = Timing(for_=H)
        inst, _ = step(pending(T0), NoData(), T0 + 30 * M, timing)
        inst, transition = step(inst, HIGH, T0 + H, timing)
        assert (inst.state, transition) == (S.FIRING, Transition.FIRING)


class TestValues:
    def test_fire_value_kept_on_resolve(self) -> None:
        """On resolve fire_value stays the value that fired while last_value is the Ok value."""
        inst, _ = step(inactive(), Breaching(640.0), T0, Timing())
        inst, _ = step(inst, Breaching(700.0), T0 + H, Timing())
        inst, transition = step(inst, Ok(480.0), T0 + 2 * H, Timing())
        assert transition is Transition.RESOLVED
        assert (inst.fire_value, inst.last_value) == (640.0, 480.0)
        assert (inst.fired_at, inst.resolved_at) == (T0, T0 + 2 * H)

    def test_resolved_breaching_again_goes_pending_anew(self) -> None:
        """A resolved instance that breaches again is pending with a new active_since."""
        timing = Timing(for_=H)
        inst, transition = step(resolved(T0), HIGH, T0 + 5 * H, timing)
        assert (inst.state, transition) == (S.PENDING, Transition.PENDING)
        assert inst.active_since == T0 + 5 * H
        inst, transition = step(inst, Breaching(810.0), T0 + 6 * H, timing)
        assert (inst.state, transition) == (S.FIRING, Transition.FIRING)
        assert (inst.fired_at, inst.resolved_at, inst.fire_value) == (T0 + 6 * H, None, 810.0)

    def test_resolved_stays_resolved_while_ok(self) -> None:
        """A resolved instance evaluated Ok stays resolved and keeps its history."""
        inst, transition = step(resolved(T0), LOW, T0 + H, Timing())
        assert (inst.state, transition) == (S.RESOLVED, None)
        assert (inst.resolved_at, inst.fire_value, inst.last_value) == (T0, 600.0, LOW.value)


class TestFingerprint:
    def test_order_of_labels_does_not_matter(self) -> None:
        """The fingerprint is the same whatever order the labels come in."""
        shuffled = dict(reversed(list(LABELS.items())))
        assert list(shuffled) != list(LABELS)
        assert fingerprint(shuffled) == fingerprint(LABELS)

    @pytest.mark.parametrize(
        "changed",
        [
            {**LABELS, "queue": "L2"},
            {**LABELS, "team": "ops"},
            {k: v for k, v in LABELS.items() if k != "severity"},
            {**LABELS, "alertname": "Other"},
        ],
        ids=["value", "added", "removed", "alertname"],
    )
    def test_any_label_change_changes_it(self, changed: dict[str, str]) -> None:
        """Changing, adding or removing any label gives a different fingerprint."""
        assert fingerprint(changed) != fingerprint(LABELS)

    def test_only_labels_matter(self) -> None:
        """The instance's fingerprint ignores the rule argument and depends on labels only."""
        assert (
            AlertInstance.new("A", LABELS).fingerprint == AlertInstance.new("B", LABELS).fingerprint
        )
        assert AlertInstance.new("A", LABELS).fingerprint == fingerprint(LABELS)

    def test_no_ambiguous_concatenation(self) -> None:
        """Labels whose concatenations coincide still get different fingerprints."""
        assert fingerprint({"a": "b,c", "d": "e"}) != fingerprint({"a": "b", "c": "d,e"})

    def test_format(self) -> None:
        """A fingerprint is 16 lowercase hex digits."""
        fp = fingerprint(LABELS)
        assert len(fp) == 16
        assert int(fp, 16) >= 0
        assert fp == fp.lower()


class TestClockJumps:
    FOR = Timing(for_=H, keep_firing_for=30 * M, max_gap=15 * M)

    def test_clock_going_back_keeps_the_time_already_held(self) -> None:
        """Pending for 50m, the clock goes back an hour: it fires 10m later, not 70m."""
        held = replace(pending(T0), last_eval_at=T0 + 50 * M)
        back = T0 - 10 * M
        after, transition = step(held, HIGH, back, self.FOR)
        assert (after.state, transition, after.active_since) == (S.PENDING, None, back - 50 * M)
        fired, transition = step(after, HIGH, back + 10 * M, self.FOR)
        assert (fired.state, transition) == (S.FIRING, Transition.FIRING)

    def test_clock_jumping_forward_counts_at_most_max_gap(self) -> None:
        """Pending for 1m, the clock jumps 3h: 16m are held, not 3h; no firing yet."""
        held = replace(pending(T0), last_eval_at=T0 + M)
        jumped = T0 + 3 * H + M
        after, transition = step(held, HIGH, jumped, self.FOR)
        assert (after.state, transition) == (S.PENDING, None)
        assert jumped - after.active_since == 16 * M  # type: ignore[operator]
        fired_after = None
        for minute in range(1, 60):  # evaluated every minute after the jump
            after, transition = step(after, HIGH, jumped + minute * M, self.FOR)
            if transition is Transition.FIRING:
                fired_after = minute
                break
        assert fired_after == 44

    def test_clock_jumping_forward_does_not_end_keep_firing_for(self) -> None:
        """Kept firing for 1m, the clock jumps 3h: still firing, not resolved."""
        kept = replace(firing(T0, keep_since=T0 + M), last_eval_at=T0 + M)
        after, transition = step(kept, LOW, T0 + 3 * H, self.FOR)
        assert (after.state, transition) == (S.FIRING, None)

    def test_without_max_gap_a_long_gap_counts_in_full(self) -> None:
        """A replay stepping hours at a time (max_gap None) counts every step in full."""
        held = replace(pending(T0), last_eval_at=T0 + M)
        _, transition = step(held, HIGH, T0 + 3 * H, Timing(for_=H))
        assert transition is Transition.FIRING
