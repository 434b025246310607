"""Durations as operators write them: parsing, rejection and formatting round trips."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from config.durations import Duration, format_duration, parse_duration


class _Model(BaseModel):
    every: Duration


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("90s", timedelta(seconds=90)),
            ("5m", timedelta(minutes=5)),
            ("2h", timedelta(hours=2)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("7d", timedelta(days=7)),
            ("1w", timedelta(weeks=1)),
            ("500ms", timedelta(milliseconds=500)),
            ("1.5h", timedelta(hours=1, minutes=30)),
            ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
            ("0s", timedelta(0)),
        ],
    )
    def test_units(self, text: str, expected: timedelta) -> None:
        """Each unit and combination of units parses to the matching timedelta."""
        assert parse_duration(text) == expected

    def test_surrounding_space_and_case(self) -> None:
        """Spaces around the text and upper-case units are accepted."""
        assert parse_duration("  2H ") == timedelta(hours=2)

    @pytest.mark.parametrize(
        ("number", "expected"),
        [
            (0, timedelta(0)),
            (60, timedelta(minutes=1)),
            (1.5, timedelta(seconds=1.5)),
        ],
    )
    def test_numbers_are_seconds(self, number: float, expected: timedelta) -> None:
        """A plain number is a number of seconds."""
        assert parse_duration(number) == expected

    @pytest.mark.parametrize(("text", "seconds"), [("60", 60), ("0", 0), ("2.5", 2.5)])
    def test_number_text_is_seconds(self, text: str, seconds: float) -> None:
        """A number written as text (as environment variables are) is seconds too."""
        assert parse_duration(text) == timedelta(seconds=seconds)

    def test_timedelta_passes_through(self) -> None:
        """A timedelta is returned unchanged."""
        assert parse_duration(timedelta(minutes=3)) == timedelta(minutes=3)

    def test_rejects_unknown_unit(self) -> None:
        """An unknown unit is a ValueError naming the text and the known units."""
        with pytest.raises(ValueError, match=r"invalid duration '5x'.*ms, s, m, h, d, w"):
            parse_duration("5x")

    @pytest.mark.parametrize("value", ["5m30", "m5", "5 m", "1e3s", "h", "2h-", "five minutes"])
    def test_rejects_malformed_text(self, value: str) -> None:
        """Text that is not a sequence of number-unit pairs is rejected."""
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(value)

    @pytest.mark.parametrize("value", [-1, -0.5, "-5m", "-60"])
    def test_rejects_negative(self, value: object) -> None:
        """A negative duration is rejected, as a number or as text."""
        with pytest.raises(ValueError, match=r"negative|invalid duration"):
            parse_duration(value)

    @pytest.mark.parametrize("value", ["", "   "])
    def test_rejects_empty(self, value: str) -> None:
        """An empty or blank string is rejected with a message saying so."""
        with pytest.raises(ValueError, match="empty string"):
            parse_duration(value)

    @pytest.mark.parametrize("value", [True, False])
    def test_rejects_bools(self, value: bool) -> None:
        """Booleans are not numbers of seconds (YAML ``yes``/``no`` must not slip through)."""
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(value)

    @pytest.mark.parametrize("value", [None, [1], {"h": 2}])
    def test_rejects_other_types(self, value: object) -> None:
        """Anything that is not text, a number or a timedelta is rejected."""
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(value)

    @pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300, "99999999999d"])
    def test_rejects_unrepresentable(self, value: object) -> None:
        """Infinite, NaN or too large durations are ValueErrors, never OverflowErrors."""
        with pytest.raises(ValueError, match=r"too large|NaN"):
            parse_duration(value)


class TestDurationField:
    def test_field_parses_text(self) -> None:
        """A Duration field accepts operator text and holds a timedelta."""
        assert _Model(every="1h30m").every == timedelta(minutes=90)

    def test_field_error_is_located(self) -> None:
        """A bad duration is a pydantic validation error located at the field."""
        with pytest.raises(ValidationError) as info:
            _Model(every="5x")
        (error,) = info.value.errors()
        assert error["loc"] == ("every",)
        assert "invalid duration '5x'" in error["msg"]

    def test_field_serialises_as_text(self) -> None:
        """A Duration field dumps back to the compact text form."""
        assert _Model(every="90s").model_dump() == {"every": "1m30s"}


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (timedelta(0), "0s"),
            (timedelta(seconds=90), "1m30s"),
            (timedelta(minutes=5), "5m"),
            (timedelta(hours=2), "2h"),
            (timedelta(hours=1, minutes=30), "1h30m"),
            (timedelta(days=7), "7d"),
            (timedelta(days=1, seconds=1), "1d1s"),
            (timedelta(milliseconds=1500), "1.5s"),
            (timedelta(milliseconds=250), "0.25s"),
        ],
    )
    def test_compact_text(self, value: timedelta, text: str) -> None:
        """Durations render with the largest units first and no zero parts."""
        assert format_duration(value) == text

    @pytest.mark.parametrize(
        "value",
        [
            timedelta(0),
            timedelta(seconds=1),
            timedelta(seconds=90),
            timedelta(hours=1, minutes=30),
            timedelta(days=7),
            timedelta(days=3, hours=4, minutes=5, seconds=6),
            timedelta(milliseconds=1),
            timedelta(seconds=59, microseconds=123456),
            timedelta(days=100, microseconds=1),
            timedelta(weeks=520),
        ],
    )
    def test_round_trip(self, value: timedelta) -> None:
        """Parsing the formatted text gives back exactly the same timedelta."""
        assert parse_duration(format_duration(value)) == value

    @pytest.mark.parametrize("text", ["90s", "5m", "2h", "1h30m", "7d", "1w", "500ms", "36h"])
    def test_text_round_trip(self, text: str) -> None:
        """Formatting a parsed duration and parsing it again is stable."""
        once = parse_duration(text)
        assert parse_duration(format_duration(once)) == once
