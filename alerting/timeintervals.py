"""Named time intervals (Alertmanager ``time_intervals``): business hours, maintenance windows.

An interval is active when *any* of its specs is active; a spec is active when *every*
field it sets matches (an empty spec always matches). Times are ``[start, end)`` in the
spec's ``location``; ranges such as ``monday:friday`` or ``-3:-1`` are inclusive.
``absolute`` adds fixed ``{start, end}`` datetime windows (maintenance) that Alertmanager
lacks. Everything here is pure: ``now`` is passed in.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

_DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
WEEKDAYS = {name: i for i, name in enumerate(_DAY_NAMES)}  # datetime.weekday(): monday=0
MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, start=1)}
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")

Span = tuple[int, int]
"""An inclusive ``(first, last)`` range of numbers."""


class TimeRange(BaseModel):
    """From ``start_time`` (inclusive) to ``end_time`` (exclusive), ``HH:MM`` up to ``24:00``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        _minutes(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start_minute >= self.end_minute:
            raise ValueError(f"start_time {self.start_time} must be before end_time")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start_time)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end_time)


class AbsoluteRange(BaseModel):
    """A fixed window ``[start, end)``, e.g. a maintenance window; datetimes need a zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> AbsoluteRange:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class TimeSpec(BaseModel):
    """One entry of an interval: every field that is set must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[Span, ...] | None = None
    days_of_month: tuple[Span, ...] | None = None
    months: tuple[Span, ...] | None = None
    years: tuple[Span, ...] | None = None
    absolute: tuple[AbsoluteRange, ...] | None = None
    location: str = "UTC"

    @field_validator("weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        return _spans(value, "weekday", WEEKDAYS, (0, 6))

    @field_validator("months", mode="before")
    @classmethod
    def _months(cls, value: Any) -> Any:
        return _spans(value, "month", MONTHS, (1, 12))

    @field_validator("years", mode="before")
    @classmethod
    def _years(cls, value: Any) -> Any:
        return _spans(value, "year", {}, (1, 9999))

    @field_validator("days_of_month", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        spans = _spans(value, "day of month", {}, (-31, 31))
        if any(0 in span for span in spans or ()):
            raise ValueError("days of month are 1..31 or -31..-1 (from the end), not 0")
        return spans

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        zone(value)
        return value


class TimeInterval(BaseModel):
    """A named interval, referenced by routes' ``mute_time_intervals``/``active_time_intervals``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    time_intervals: tuple[TimeSpec, ...] = Field(min_length=1)


def active(interval: TimeInterval, now: datetime) -> bool:
    """Whether ``now`` (timezone-aware) falls in any spec of ``interval``."""
    return any(spec_active(spec, now) for spec in interval.time_intervals)


def any_active(names: Sequence[str], intervals: Mapping[str, TimeInterval], now: datetime) -> bool:
    """Whether any interval named in ``names`` is active; unknown names never are."""
    return any(name in intervals and active(intervals[name], now) for name in names)


def spec_active(spec: TimeSpec, now: datetime) -> bool:
    """Whether every field ``spec`` sets matches ``now`` in the spec's location."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone(spec.location))
    minute = local.hour * 60 + local.minute
    checks = (
        spec.times is None or any(t.start_minute <= minute < t.end_minute for t in spec.times),
        spec.weekdays is None or _within(local.weekday(), spec.weekdays),
        spec.months is None or _within(local.month, spec.months),
        spec.years is None or _within(local.year, spec.years),
        spec.days_of_month is None or _day_matches(local, spec.days_of_month),
        spec.absolute is None or any(r.start <= now < r.end for r in spec.absolute),
    )
    return all(checks)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Local`` is refused: a daemon's zone is not configuration)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris"
        ) from None


def _day_matches(local: datetime, spans: Sequence[Span]) -> bool:
    length = calendar.monthrange(local.year, local.month)[1]
    for first, last in spans:
        lo = first if first > 0 else length + 1 + first
        hi = last if last > 0 else length + 1 + last
        if max(lo, 1) <= local.day <= min(hi, length):
            return True
    return False


def _within(value: int, spans: Sequence[Span]) -> bool:
    return any(first <= value <= last for first, last in spans)


def _minutes(text: str) -> int:
    found = _CLOCK.match(text)
    if not found:
        raise ValueError(f"invalid time {text!r}: use HH:MM, e.g. 09:00")
    hours, minutes = int(found.group(1)), int(found.group(2))
    total = hours * 60 + minutes
    if minutes > 59 or total > 24 * 60:
        raise ValueError(f"invalid time {text!r}: between 00:00 and 24:00")
    return total


def _spans(value: Any, what: str, names: Mapping[str, int], bounds: Span) -> Any:
    """``["monday:friday", "sunday"]`` into ``((0, 4), (6, 6))``; other input left to pydantic."""
    if value is None or not isinstance(value, list | tuple):
        return value
    return tuple(
        item if isinstance(item, tuple) else _span(str(item), what, names, bounds) for item in value
    )


def _span(text: str, what: str, names: Mapping[str, int], bounds: Span) -> Span:
    parts = text.split(":")
    if len(parts) > 2:
        raise ValueError(f"invalid {what} range {text!r}")
    first, last = (_number(p, what, names, bounds) for p in (parts[0], parts[-1]))
    if first > last and (first < 0) == (last < 0):
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return first, last


def _number(text: str, what: str, names: Mapping[str, int], bounds: Span) -> int:
    word = text.strip().lower()
    if word in names:
        return names[word]
    if what == "weekday":
        raise ValueError(f"invalid weekday {text!r}: use a name such as monday")
    try:
        number = int(word)
    except ValueError:
        raise ValueError(f"invalid {what} {text!r}") from None
    if not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"{what} {number} out of range {bounds[0]}..{bounds[1]}")
    return number
