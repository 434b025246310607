"""The routing tree (Alertmanager ``route``): which receivers get an alert, grouped how.

An alert enters at the root and descends into the first child whose matchers all match;
with ``continue: true`` on that child the next siblings are tried too. A route none of
whose children match is itself a match. Children inherit ``receiver``, ``group_by`` and
the three timers when they leave them unset; as in Alertmanager, ``mute_time_intervals``
and ``active_time_intervals`` are *not* inherited. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from alerting.silences import Matcher, matches_all, parse_matcher
from alerting.timeintervals import TimeInterval, any_active
from config.durations import Duration

ALL_LABELS = "..."
"""``group_by: ["..."]`` groups by every label (one group per alert)."""
GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=4)
ROOT_ID = "/"


def _matchers(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(parse_matcher(v) if isinstance(v, str) else v for v in value)
    return value


Matchers = Annotated[
    tuple[Matcher, ...],
    BeforeValidator(_matchers),
    PlainSerializer(lambda ms: [str(m) for m in ms], return_type=list[str]),
]
"""Matchers written as strings (``severity="critical"``, ``queue=~"Bill.*"``)."""


class Route(BaseModel):
    """One node of the routing tree, as configured (unset fields are inherited)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    receiver: str | None = None
    matchers: Matchers = ()
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class RouteMatch:
    """A matched route with everything resolved: what a group of alerts needs.

    Attributes:
        route_id: the route's path in the tree (``/`` root, ``/0/2`` third child of the
            first child); stable while the tree's shape does not change.
        repeat_interval: already rounded up to a multiple of ``group_interval``.
    """

    route_id: str
    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = GROUP_WAIT
    group_interval: timedelta = GROUP_INTERVAL
    repeat_interval: timedelta = REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that identify the alert's group (missing ones are left out)."""
        if ALL_LABELS in self.group_by:
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in sorted(self.group_by) if name in labels}


def match(route: Route, labels: Mapping[str, str]) -> list[RouteMatch]:
    """The routes ``labels`` reach, in tree order, honouring ``continue``.

    The root matches everything (its matchers, which :func:`validate` forbids, are ignored).
    """
    return _match(route, labels, ROOT_ID, root=True)


def _match(
    route: Route, labels: Mapping[str, str], path: str, root: bool = False
) -> list[RouteMatch]:
    if not root and not matches_all(route.matchers, labels):
        return []
    found: list[RouteMatch] = []
    for index, child in enumerate(route.routes):
        matched = _match(_inherit(child, route), labels, _child(path, index))
        found += matched
        if matched and not child.continue_:
            break
    return found or [_resolve(route, path)]


_INHERITED = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval")


def _inherit(child: Route, parent: Route) -> Route:
    """``child`` with its unset fields taken from ``parent`` (already resolved itself)."""
    unset = {f: getattr(parent, f) for f in _INHERITED if getattr(child, f) is None}
    return child.model_copy(update=unset)


def _resolve(route: Route, path: str) -> RouteMatch:
    interval = route.group_interval if route.group_interval is not None else GROUP_INTERVAL
    repeat = route.repeat_interval if route.repeat_interval is not None else REPEAT_INTERVAL
    return RouteMatch(
        route_id=path,
        receiver=route.receiver or "",
        group_by=route.group_by or (),
        group_wait=route.group_wait if route.group_wait is not None else GROUP_WAIT,
        group_interval=interval,
        repeat_interval=round_up(repeat, interval),
        mute_time_intervals=route.mute_time_intervals,
        active_time_intervals=route.active_time_intervals,
    )


def _child(path: str, index: int) -> str:
    return f"{path.rstrip('/')}/{index}"


def round_up(repeat: timedelta, interval: timedelta) -> timedelta:
    """``repeat`` rounded up to a whole number of ``interval`` (flushes happen only then)."""
    if interval <= timedelta(0):
        return repeat
    return interval * max(1, math.ceil(repeat / interval))


def is_muted(match: RouteMatch, now: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
    """Muted when a mute interval is active, or when active intervals are set and none is.

    ``functools.partial(is_muted, intervals=by_name)`` is the ``muted`` callable of
    :func:`alerting.grouping.plan`.
    """
    if any_active(match.mute_time_intervals, intervals, now):
        return True
    return bool(match.active_time_intervals) and not any_active(
        match.active_time_intervals, intervals, now
    )


def validate(route: Route, receivers: Set[str], intervals: Set[str]) -> list[tuple[str, str]]:
    """Every problem of the tree as ``(path, message)``, paths like ``route -> routes -> 0``.

    Args:
        route: the root route.
        receivers: the configured receiver names.
        intervals: the configured time interval names.
    """
    problems = _root_problems(route)
    problems += _node_problems(route, "route", receivers, intervals)
    return problems


def _root_problems(route: Route) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if route.receiver is None:
        problems.append(("route -> receiver", "the root route needs a receiver"))
    if route.matchers:
        problems.append(("route -> matchers", "the root route matches every alert: no matchers"))
    if route.continue_:
        problems.append(("route -> continue", "the root route cannot continue"))
    if route.mute_time_intervals or route.active_time_intervals:
        problems.append(("route", "the root route cannot have mute or active time intervals"))
    return problems


def _node_problems(
    route: Route, path: str, receivers: Set[str], intervals: Set[str]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if route.receiver is not None and route.receiver not in receivers:
        known = ", ".join(sorted(receivers)) or "none"
        problems.append((f"{path} -> receiver", f"unknown receiver {route.receiver!r} ({known})"))
    for field in ("mute_time_intervals", "active_time_intervals"):
        for name in _unknown(getattr(route, field), intervals):
            problems.append((f"{path} -> {field}", f"unknown time interval {name!r}"))
    problems += _timer_problems(route, path)
    for index, child in enumerate(route.routes):
        problems += _node_problems(child, f"{path} -> routes -> {index}", receivers, intervals)
    return problems


def _timer_problems(route: Route, path: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for field in ("group_interval", "repeat_interval"):
        value = getattr(route, field)
        if value is not None and value <= timedelta(0):
            problems.append((f"{path} -> {field}", f"{field} must be positive"))
    group_by = route.group_by or ()
    if ALL_LABELS in group_by and len(group_by) > 1:
        problems.append((f"{path} -> group_by", '"..." groups by all labels: list nothing else'))
    if len(set(group_by)) != len(group_by):
        problems.append((f"{path} -> group_by", "a label is listed twice"))
    return problems


def _unknown(names: Iterable[str], known: Set[str]) -> list[str]:
    return [name for name in names if name not in known]
