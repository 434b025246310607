"""promtool's series notation: selectors and expanding values."""

from __future__ import annotations

import pytest

from alerting.ruletest import STALE, expand_values, parse_selector


class TestExpandValues:
    def test_ramp_has_n_plus_one_samples(self) -> None:
        """a+bxn is a, a+b, ..., a+n*b (n+1 samples), as in promtool."""
        assert expand_values("-2+4x3") == [-2, 2, 6, 10]

    def test_countdown(self) -> None:
        """a-bxn counts down."""
        assert expand_values("1-2x4") == [1, -1, -3, -5, -7]

    def test_repeat(self) -> None:
        """axn repeats a n+1 times."""
        assert expand_values("1x4") == [1, 1, 1, 1, 1]

    def test_gaps_and_stale(self) -> None:
        """_xn is n missing samples (not n+1); stale is a marker."""
        assert expand_values("1 _x3 stale _ 2") == [1, None, None, None, STALE, None, 2]

    def test_decimals_and_exponents(self) -> None:
        """Plain numbers may be decimal or in exponent notation."""
        assert expand_values("1.5 2e3 +3") == [1.5, 2000, 3]

    @pytest.mark.parametrize("text", ["1+x3", "abc", "1x", "_+1x2"])
    def test_rejects_bad_terms(self, text: str) -> None:
        """A term outside the notation is an error naming it."""
        with pytest.raises(ValueError, match="bad value"):
            expand_values(text)


class TestParseSelector:
    def test_name_and_labels(self) -> None:
        """name{k="v",...} gives the name and the labels."""
        assert parse_selector('backlog_open_tickets{source="hd", queue="Bill ing",}') == (
            "backlog_open_tickets",
            {"source": "hd", "queue": "Bill ing"},
        )

    def test_escaped_quote(self) -> None:
        """A backslash-escaped quote is part of the value."""
        assert parse_selector(r'm{queue="a\"b"}') == ("m", {"queue": 'a"b'})

    def test_name_only(self) -> None:
        """A bare metric name has no labels."""
        assert parse_selector("backlog_collector_up") == ("backlog_collector_up", {})

    @pytest.mark.parametrize("text", ["m{queue=a}", '{queue="a"}', 'm{queue="a" source="b"}'])
    def test_rejects_bad_selectors(self, text: str) -> None:
        """Unquoted values, a missing name or a missing comma are errors."""
        with pytest.raises(ValueError, match="bad"):
            parse_selector(text)
