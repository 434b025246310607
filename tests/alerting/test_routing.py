"""The routing tree: first match wins unless ``continue``, children inherit, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alerting.routing import ROOT_ID, Route, RouteMatch, is_muted, match, round_up, validate
from alerting.timeintervals import TimeInterval
from tests.fakes import T0

M = timedelta(minutes=1)
TREE = Route.model_validate(
    yaml.safe_load(
        """
receiver: default
group_by: [alertname, queue]
group_interval: 7m
routes:
  - matchers: ['severity="critical"']
    receiver: pager
    continue: true
    mute_time_intervals: [nights]
  - matchers: ['queue=~"Bill.*"']
    receiver: billing
    group_by: ["..."]
    routes:
      - matchers: ['team=""']
        group_wait: 1m
      - matchers: ['team="finance"']
        receiver: finance
  - matchers: ['severity="critical"']
    receiver: never-reached
"""
    )
)


def receivers(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(m.route_id, m.receiver) for m in match(TREE, labels)]


class TestMatch:
    def test_unmatched_alert_goes_to_the_root(self) -> None:
        """An alert no child matches is the root's."""
        assert receivers({"queue": "L1"}) == [(ROOT_ID, "default")]

    def test_first_matching_child_wins(self) -> None:
        """Without ``continue`` later siblings are not tried."""
        assert receivers({"queue": "Billing", "team": "finance"}) == [("/1/1", "finance")]

    def test_continue_tries_the_next_siblings(self) -> None:
        """A critical billing alert reaches the pager and billing, not the last route."""
        found = receivers({"severity": "critical", "queue": "Billing", "team": "x"})
        assert found == [("/0", "pager"), ("/1", "billing")]

    def test_a_route_without_matching_children_matches_itself(self) -> None:
        """Billing with an unknown team stops at ``/1``; without a team it reaches ``/1/0``."""
        assert receivers({"queue": "Billing", "team": "x"}) == [("/1", "billing")]
        assert receivers({"queue": "Billing"}) == [("/1/0", "billing")]

    def test_children_inherit_unset_values(self) -> None:
        """``/1/0`` inherits receiver, group_by and group_interval, and sets its group_wait."""
        (leaf,) = match(TREE, {"queue": "Billing"})
        assert leaf == RouteMatch(
            route_id="/1/0",
            receiver="billing",
            group_by=("...",),
            group_wait=M,
            group_interval=7 * M,
            repeat_interval=timedelta(hours=4, minutes=5),
        )

    def test_time_intervals_are_not_inherited(self) -> None:
        """As in Alertmanager, a child does not inherit its parent's mute intervals."""
        tree = Route.model_validate(
            {
                "receiver": "r",
                "routes": [
                    {"matchers": ["a=1"], "mute_time_intervals": ["n"], "routes": [{}]},
                ],
            }
        )
        (leaf,) = match(tree, {"a": "1"})
        assert (leaf.route_id, leaf.mute_time_intervals) == ("/0/0", ())


class TestGroupLabels:
    def test_group_by_picks_present_labels(self) -> None:
        """Only the listed labels that the alert has identify its group."""
        route = RouteMatch("/", "r", group_by=("queue", "alertname"))
        assert route.group_labels({"queue": "L1", "severity": "x"}) == {"queue": "L1"}

    def test_ellipsis_groups_by_every_label(self) -> None:
        """``["..."]`` uses the full label set."""
        route = RouteMatch("/", "r", group_by=("...",))
        assert route.group_labels({"b": "2", "a": "1"}) == {"a": "1", "b": "2"}


class TestTimers:
    def test_defaults_are_alertmanagers(self) -> None:
        """30s, 5m and 4h when nothing is configured."""
        (root,) = match(Route(receiver="r"), {})
        timers = (root.group_wait, root.group_interval, root.repeat_interval)
        assert timers == (timedelta(seconds=30), 5 * M, timedelta(hours=4))

    @pytest.mark.parametrize(
        ("repeat", "interval", "expected"),
        [(60, 5, 60), (61, 5, 65), (3, 5, 5), (240, 7, 245)],
    )
    def test_repeat_interval_rounds_up_to_group_interval(
        self, repeat: int, interval: int, expected: int
    ) -> None:
        """Repeats happen on flushes, so the interval is a whole number of them."""
        assert round_up(repeat * M, interval * M) == expected * M

    def test_durations_use_the_project_syntax(self) -> None:
        """``1h30m`` parses and dumps as written."""
        route = Route.model_validate({"receiver": "r", "repeat_interval": "1h30m"})
        assert route.model_dump(exclude_none=True)["repeat_interval"] == "1h30m"


class TestMuting:
    NIGHTS = TimeInterval.model_validate(
        {
            "name": "nights",
            "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "06:00"}]}],
        }
    )

    def test_mute_interval_mutes_while_active(self) -> None:
        """Muted at 03:00, not at noon."""
        route = RouteMatch("/0", "r", mute_time_intervals=("nights",))
        intervals = {"nights": self.NIGHTS}
        assert is_muted(route, T0.replace(hour=3), intervals)
        assert not is_muted(route, T0, intervals)

    def test_active_interval_mutes_outside_it(self) -> None:
        """A route active only at night is muted at noon."""
        route = RouteMatch("/0", "r", active_time_intervals=("nights",))
        intervals = {"nights": self.NIGHTS}
        assert is_muted(route, T0, intervals)
        assert not is_muted(route, T0.replace(hour=3), intervals)


class TestValidate:
    def test_valid_tree_has_no_problems(self) -> None:
        """Known receivers and intervals give an empty list."""
        known = {"default", "pager", "billing", "finance", "never-reached"}
        assert validate(TREE, known, {"nights"}) == []

    def test_problems_carry_their_path(self) -> None:
        """Unknown receivers and intervals are reported where they are written."""
        problems = validate(TREE, {"default", "pager", "billing"}, set())
        assert problems == [
            ("route -> routes -> 0 -> mute_time_intervals", "unknown time interval 'nights'"),
            (
                "route -> routes -> 1 -> routes -> 1 -> receiver",
                "unknown receiver 'finance' (billing, default, pager)",
            ),
            (
                "route -> routes -> 2 -> receiver",
                "unknown receiver 'never-reached' (billing, default, pager)",
            ),
        ]

    def test_root_rules(self) -> None:
        """The root needs a receiver and takes no matchers, continue or intervals."""
        root = Route.model_validate(
            {"matchers": ["a=1"], "continue": True, "active_time_intervals": ["n"]}
        )
        paths = [path for path, _ in validate(root, set(), {"n"})]
        assert paths == ["route -> receiver", "route -> matchers", "route -> continue", "route"]

    def test_timer_and_group_by_problems(self) -> None:
        """Zero intervals and ``...`` mixed with names are reported."""
        bad: dict[str, Any] = {"receiver": "r", "group_interval": "0s", "group_by": ["...", "a"]}
        messages = [message for _, message in validate(Route.model_validate(bad), {"r"}, set())]
        assert messages == [
            "group_interval must be positive",
            '"..." groups by all labels: list nothing else',
        ]

    def test_malformed_matchers_fail_parsing(self) -> None:
        """A matcher string that does not parse is a validation error."""
        with pytest.raises(ValidationError, match="invalid matcher"):
            Route.model_validate({"receiver": "r", "routes": [{"matchers": ["queue"]}]})

    def test_unknown_keys_are_rejected(self) -> None:
        """A typo such as ``group_wiat`` fails."""
        with pytest.raises(ValidationError):
            Route.model_validate({"receiver": "r", "group_wiat": "1m"})
