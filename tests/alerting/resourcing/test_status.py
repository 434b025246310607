"""Burrow-style status fixtures: one window per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.resourcing.status import QueueStatus, Sample, evaluate, worst

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


def window(backlogs: list[float], resolved: list[float], step_min: int = 10) -> list[Sample]:
    """Samples every ``step_min`` minutes from T0."""
    return [
        Sample(T0 + timedelta(minutes=i * step_min), b, r)
        for i, (b, r) in enumerate(zip(backlogs, resolved, strict=True))
    ]


END = T0 + timedelta(minutes=50)  # the last sample of a six-sample window


class TestEvaluate:
    def test_ok_when_backlog_reached_target(self) -> None:
        """A window where the backlog touched the target is OK, whatever else happened."""
        samples = window([30, 20, 0, 10, 20, 30], [5, 5, 5, 5, 5, 5])
        assert evaluate(samples, END).status is QueueStatus.OK

    def test_ok_with_a_non_zero_target(self) -> None:
        """Target 25: a backlog of 20 in the window counts as caught up."""
        samples = window([40, 20, 30, 40, 50, 60], [1, 1, 1, 1, 1, 1])
        assert evaluate(samples, END, target=25).status is QueueStatus.OK

    def test_stop_when_no_solves_for_longer_than_the_window(self) -> None:
        """Solves ended 10 min in; 60 min later is longer than the 50 min span: STOP."""
        samples = window([50, 55, 60, 65, 70, 75], [1, 2, 2, 2, 2, 2])
        result = evaluate(samples, T0 + timedelta(minutes=71))
        assert result.status is QueueStatus.STOP
        assert "no solves since" in result.reason

    def test_stop_from_a_solve_known_before_the_window(self) -> None:
        """A flat window whose last solve was long before it is STOP."""
        samples = window([50, 50, 50, 50, 50, 50], [9, 9, 9, 9, 9, 9])
        last = T0 - timedelta(hours=2)
        assert evaluate(samples, END, last_solve_at=last).status is QueueStatus.STOP

    def test_stall_when_solved_counter_flat(self) -> None:
        """No solves in the window while backlog > 0, evaluated at the last sample: STALL."""
        samples = window([50, 49, 50, 48, 50, 49], [9, 9, 9, 9, 9, 9])
        assert evaluate(samples, END).status is QueueStatus.STALL

    def test_warn_when_backlog_never_fell(self) -> None:
        """Solving, but the backlog never fell between samples: WARN."""
        samples = window([50, 50, 55, 60, 60, 70], [1, 3, 5, 7, 9, 11])
        result = evaluate(samples, END)
        assert result.status is QueueStatus.WARN
        assert "never fell" in result.reason

    def test_ok_when_backlog_falls_at_times(self) -> None:
        """Solving and the backlog fell at least once: OK."""
        samples = window([50, 55, 52, 60, 58, 61], [1, 3, 5, 7, 9, 11])
        assert evaluate(samples, END).status is QueueStatus.OK

    def test_order_of_samples_does_not_matter(self) -> None:
        """Samples are sorted by time before judging."""
        samples = window([50, 50, 55, 60, 60, 70], [1, 3, 5, 7, 9, 11])
        assert evaluate(samples[::-1], END).status is QueueStatus.WARN

    def test_too_few_samples_is_ok(self) -> None:
        """With fewer than two samples there is no trend to judge."""
        assert evaluate(window([99], [0]), T0).status is QueueStatus.OK


class TestSeverity:
    def test_order(self) -> None:
        """OK < WARN < STALL < STOP."""
        order = [QueueStatus.OK, QueueStatus.WARN, QueueStatus.STALL, QueueStatus.STOP]
        assert [s.severity for s in order] == [0, 1, 2, 3]

    @pytest.mark.parametrize(
        ("status", "expected"),
        [(QueueStatus.OK, False), (QueueStatus.WARN, True), (QueueStatus.STOP, True)],
    )
    def test_at_least_warn(self, status: QueueStatus, expected: bool) -> None:
        """WARN and worse are at least WARN; OK is not."""
        assert status.at_least(QueueStatus.WARN) is expected

    def test_worst_of_a_group(self) -> None:
        """A group takes its worst member's status, OK when empty."""
        assert worst([QueueStatus.OK, QueueStatus.STALL, QueueStatus.WARN]) is QueueStatus.STALL
        assert worst([]) is QueueStatus.OK
