"""Durations written the way operators write them: ``90s``, ``5m``, ``2h``, ``1h30m``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: Any) -> timedelta:
    """Parse ``90s``, ``5m``, ``2h``, ``1h30m``, ``7d`` or a number of seconds.

    Raises:
        ValueError: the text is not a duration (pydantic turns it into a located error).
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 5m or 2h")
    if isinstance(value, int | float):
        return _seconds(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 90s, 5m or 2h")
    text = value.strip().lower()
    if not text:
        raise ValueError("expected a duration such as 90s, 5m or 2h, got an empty string")
    if _NUMBER.fullmatch(text):  # a bare number is seconds, as in YAML (env vars are text)
        return _seconds(float(text))
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w)")
    return _seconds(total)


def _seconds(value: float) -> timedelta:
    if value != value:  # NaN
        raise ValueError("expected a duration such as 90s, 5m or 2h, got NaN")
    if value < 0:
        raise ValueError("a duration cannot be negative")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError("duration too large") from None


def format_duration(value: timedelta) -> str:
    """Render a timedelta compactly (``2h``, ``1h30m``, ``90s`` becomes ``1m30s``)."""
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, micros = divmod(micros, size * 1_000_000)
        if count:
            parts.append(f"{count}{unit}")
    if micros:
        whole, fraction = divmod(micros, 1_000_000)
        parts.append(f"{whole}.{fraction:06d}".rstrip("0").rstrip(".") + "s")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A pydantic field type for durations (``timedelta`` inside, ``2h`` outside)."""
