"""Time intervals: business hours across weekdays and zones, month days, maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.timeintervals import TimeInterval, active, any_active

MONDAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday; Paris is UTC+1 in November


def interval(**spec: Any) -> TimeInterval:
    return TimeInterval.model_validate({"name": "window", "time_intervals": [spec]})


BUSINESS = interval(
    times=[{"start_time": "09:00", "end_time": "17:00"}],
    weekdays=["monday:friday"],
    location="Europe/Paris",
)


class TestBusinessHours:
    def test_active_inside_hours_on_a_weekday(self) -> None:
        """12:00 UTC on a Monday is 13:00 in Paris: inside business hours."""
        assert active(BUSINESS, MONDAY)

    def test_start_is_inclusive_and_end_exclusive(self) -> None:
        """09:00 Paris (08:00 UTC) is in, 17:00 Paris (16:00 UTC) is out."""
        assert active(BUSINESS, MONDAY.replace(hour=8))
        assert not active(BUSINESS, MONDAY.replace(hour=7, minute=59))
        assert active(BUSINESS, MONDAY.replace(hour=15, minute=59))
        assert not active(BUSINESS, MONDAY.replace(hour=16))

    def test_weekend_is_inactive(self) -> None:
        """Saturday and Sunday at noon are outside monday:friday."""
        assert not active(BUSINESS, MONDAY - timedelta(days=2))
        assert not active(BUSINESS, MONDAY - timedelta(days=1))

    def test_weekday_is_taken_in_the_location(self) -> None:
        """23:30 UTC Sunday is 00:30 Monday in Tokyo, so a Monday interval there is active."""
        monday_tokyo = interval(weekdays=["monday"], location="Asia/Tokyo")
        sunday_late = MONDAY.replace(hour=23, minute=30) - timedelta(days=1)
        assert active(monday_tokyo, sunday_late)
        assert not active(interval(weekdays=["monday"]), sunday_late)

    def test_daylight_saving_time_is_followed(self) -> None:
        """In July Paris is UTC+2: 07:00 UTC is 09:00 there."""
        july = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)  # a Monday
        assert active(BUSINESS, july)
        assert not active(BUSINESS, july - timedelta(minutes=1))

    def test_end_of_day_may_be_written_24_00(self) -> None:
        """``24:00`` closes the day: 23:59 is inside."""
        evening = interval(times=[{"start_time": "18:00", "end_time": "24:00"}])
        assert active(evening, MONDAY.replace(hour=23, minute=59))


class TestCalendarFields:
    def test_negative_days_count_from_the_end_of_the_month(self) -> None:
        """``-1`` is the 30th in November and the 28th in February 2026."""
        last = interval(days_of_month=["-1"])
        assert active(last, datetime(2026, 11, 30, tzinfo=UTC))
        assert not active(last, datetime(2026, 11, 29, tzinfo=UTC))
        assert active(last, datetime(2026, 2, 28, tzinfo=UTC))

    def test_months_and_years_accept_names_and_ranges(self) -> None:
        """``november:december`` in ``2026`` matches November 2026 only."""
        late = interval(months=["november:december"], years=["2026"])
        assert active(late, MONDAY)
        assert not active(late, MONDAY.replace(year=2027))
        assert not active(late, MONDAY.replace(month=10))

    def test_empty_spec_always_matches(self) -> None:
        """A spec with no fields is always active (Alertmanager)."""
        assert active(interval(), MONDAY)

    def test_any_spec_is_enough(self) -> None:
        """An interval is active when one of its specs is."""
        either = TimeInterval.model_validate(
            {"name": "w", "time_intervals": [{"weekdays": ["sunday"]}, {"weekdays": ["monday"]}]}
        )
        assert active(either, MONDAY)


class TestAbsoluteRanges:
    def test_maintenance_window_is_half_open(self) -> None:
        """A window is active from its start up to, not including, its end."""
        window = interval(absolute=[{"start": "2026-11-23T12:00:00Z", "end": "2026-11-23T14:00Z"}])
        assert active(window, MONDAY)
        assert active(window, MONDAY + timedelta(hours=1, minutes=59))
        assert not active(window, MONDAY + timedelta(hours=2))
        assert not active(window, MONDAY - timedelta(seconds=1))

    def test_unknown_names_are_never_active(self) -> None:
        """``any_active`` ignores names that are not configured."""
        assert not any_active(["missing"], {"window": interval()}, MONDAY)
        assert any_active(["missing", "window"], {"window": interval()}, MONDAY)


class TestValidation:
    @pytest.mark.parametrize(
        "spec",
        [
            {"times": [{"start_time": "17:00", "end_time": "09:00"}]},
            {"times": [{"start_time": "9:00", "end_time": "17:00"}]},
            {"times": [{"start_time": "09:00", "end_time": "24:01"}]},
            {"weekdays": ["friday:monday"]},
            {"weekdays": ["1"]},
            {"months": ["13"]},
            {"days_of_month": ["0"]},
            {"days_of_month": ["5:1"]},
            {"location": "Mars/Olympus"},
            {"absolute": [{"start": "2026-11-23T14:00Z", "end": "2026-11-23T12:00Z"}]},
            {"absolute": [{"start": "2026-11-23T12:00", "end": "2026-11-23T14:00"}]},
            {"weekday": ["monday"]},
        ],
    )
    def test_invalid_specs_are_rejected(self, spec: dict[str, Any]) -> None:
        """Reversed ranges, bad names, zones, naive datetimes and unknown keys fail."""
        with pytest.raises(ValidationError):
            interval(**spec)

    def test_naive_now_is_refused(self) -> None:
        """``now`` must carry a zone."""
        with pytest.raises(ValueError, match="timezone-aware"):
            active(BUSINESS, MONDAY.replace(tzinfo=None))

    def test_dumped_interval_validates_again(self) -> None:
        """A dumped interval round-trips through the model."""
        again = TimeInterval.model_validate(BUSINESS.model_dump())
        assert again == BUSINESS
