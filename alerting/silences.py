"""Label matchers and silences, with Alertmanager's semantics (pure: ``now`` is passed in).

A matcher compares one label: ``=``, ``!=``, ``=~`` and ``!~``. Regexes are fully
anchored (``queue=~"Bill"`` does not match ``Billing``) and a missing label is the
empty string, so ``team=""`` matches alerts without ``team`` and ``team!=""`` requires it.
A silence mutes the alerts that *all* its matchers match while
``starts_at <= now < ends_at``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.notifications import iso
from config.durations import Duration

OPERATORS = ("=~", "!~", "!=", "=")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VALUE = r'"(?:[^"\\]|\\.)*"|[^\s,"{}=]*'  # unquoted values cannot contain "="
_ONE = re.compile(rf"\s*({_NAME})\s*(=~|!~|!=|=)\s*({_VALUE})\s*,?")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True)
class Matcher:
    """``name`` compared with ``value``: equal or not, literally or as an anchored regex."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def __post_init__(self) -> None:
        if not re.fullmatch(_NAME, self.name):
            raise ValueError(f"invalid label name {self.name!r}")
        if self.is_regex:
            _pattern(self.value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label (``""`` when missing) satisfies this matcher."""
        value = labels.get(self.name, "")
        if self.is_regex:
            found = _pattern(self.value).fullmatch(value) is not None
        else:
            found = value == self.value
        return found == self.is_equal

    @property
    def operator(self) -> str:
        """``=``, ``!=``, ``=~`` or ``!~``."""
        if self.is_regex:
            return "=~" if self.is_equal else "!~"
        return "=" if self.is_equal else "!="

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.operator}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches ``labels`` (no matchers: always)."""
    return all(m.matches(labels) for m in matchers)


def parse_matcher(text: str) -> Matcher:
    """One matcher: ``severity="critical"``, ``queue=~"Bill.*"``, ``team!=ops``."""
    found = _ONE.fullmatch(text)
    if not found or text.rstrip().endswith(","):
        raise ValueError(f"invalid matcher {text!r}: use name=value, name!=value, =~ or !~")
    return _build(*found.groups())


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """The CLI/Alertmanager form: ``alertname=BacklogHigh queue=~"Bill.*"``.

    Matchers are separated by spaces or commas and may be wrapped in ``{...}``.

    Raises:
        ValueError: a matcher is malformed or its regex does not compile.
    """
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers: list[Matcher] = []
    pos = 0
    while pos < len(body):
        found = _ONE.match(body, pos)
        if not found or found.end() == pos:
            raise ValueError(f"invalid matcher at {body[pos:]!r}: use name=value or name=~regex")
        matchers.append(_build(*found.groups()))
        pos = found.end()
    return tuple(matchers)


def _build(name: str, op: str, raw: str) -> Matcher:
    value = _unquote(raw) if raw.startswith('"') else raw
    return Matcher(name, value, is_regex="~" in op, is_equal=op[0] == "=")


def _unquote(raw: str) -> str:
    """Strip quotes; ``\\"``, ``\\\\`` and ``\\n`` are escapes, other ``\\x`` stay (regexes)."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw[1:-1])


@lru_cache(maxsize=1024)
def _pattern(value: str) -> re.Pattern[str]:
    try:
        return re.compile(f"(?:{value})")
    except re.error as err:
        raise ValueError(f"invalid regex {value!r}: {err}") from None


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Silence:
    """A stored silence; ``id`` is assigned by the store (a UUID)."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def state(silence: Silence, now: datetime) -> SilenceState:
    """Pending before ``starts_at``, active until ``ends_at`` (exclusive), then expired."""
    if now < silence.starts_at:
        return SilenceState.PENDING
    return SilenceState.ACTIVE if now < silence.ends_at else SilenceState.EXPIRED


def silences_labels(silence: Silence, labels: Mapping[str, str], now: datetime) -> bool:
    """Whether ``silence`` is active at ``now`` and matches ``labels``."""
    return state(silence, now) is SilenceState.ACTIVE and matches_all(silence.matchers, labels)


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> list[str]:
    """Ids of the active silences that mute ``labels``, sorted."""
    return sorted(s.id for s in silences if silences_labels(s, labels, now))


def expire(silence: Silence, now: datetime) -> Silence:
    """``silence`` ended at ``now`` (a pending one never starts); an expired one is unchanged."""
    current = state(silence, now)
    if current is SilenceState.EXPIRED:
        return silence
    starts = now if current is SilenceState.PENDING else silence.starts_at
    return replace(silence, starts_at=starts, ends_at=now)


class MatcherInput(BaseModel):
    """A matcher in the Alertmanager API's JSON form."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    value: str
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class SilenceInput(BaseModel):
    """A new silence from ``POST /api/v1/silences`` or ``backlog-monitor silence add``.

    ``matchers`` are API objects or matcher strings; ``endsAt`` or ``duration`` sets the end,
    ``startsAt`` defaults to now.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: AwareDatetime | None = Field(None, alias="startsAt")
    ends_at: AwareDatetime | None = Field(None, alias="endsAt")
    duration: Duration | None = None
    created_by: str = Field(alias="createdBy", min_length=1)
    comment: str = Field(min_length=1)

    @field_validator("matchers", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_matchers(value)
        if not isinstance(value, list | tuple):
            return value
        return tuple(_input_matcher(item) for item in value)

    @model_validator(mode="after")
    def _coherent(self) -> SilenceInput:
        if all(m.matches({}) for m in self.matchers):
            raise ValueError("at least one matcher must not match the empty string")
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of endsAt and duration")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("endsAt must be after startsAt")
        if self.duration is not None and not self.duration:
            raise ValueError("duration must be positive")
        return self

    def to_silence(self, silence_id: str, now: datetime) -> Silence:
        """The silence to store (``startsAt`` defaults to ``now``).

        Raises:
            ValueError: it would end before it starts, or has already ended.
        """
        starts = self.starts_at or now
        ends = (
            self.ends_at if self.ends_at is not None else starts + (self.duration or timedelta(0))
        )
        if ends <= starts or ends <= now:
            raise ValueError("the silence would end before it starts or has already ended")
        return Silence(silence_id, self.matchers, starts, ends, self.created_by, self.comment)


def _input_matcher(item: Any) -> Matcher:
    if isinstance(item, Matcher):
        return item
    if isinstance(item, str):
        return parse_matcher(item)
    given = MatcherInput.model_validate(item)
    return Matcher(given.name, given.value, given.is_regex, given.is_equal)


def to_api(silence: Silence, now: datetime) -> dict[str, Any]:
    """The JSON of ``GET /api/v1/silences`` (Alertmanager's field names)."""
    return {
        "id": silence.id,
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in silence.matchers
        ],
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "status": {"state": state(silence, now).value},
    }


def describe(matchers: Sequence[Matcher]) -> str:
    """``{alertname="BacklogHigh", queue=~"Bill.*"}``, for the CLI and logs."""
    return "{" + ", ".join(str(m) for m in matchers) + "}"
