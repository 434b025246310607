"""Matchers and silences: Alertmanager's matching rules, silence states and validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.silences import (
    Matcher,
    Silence,
    SilenceInput,
    SilenceState,
    describe,
    expire,
    parse_matcher,
    parse_matchers,
    silenced_by,
    state,
    to_api,
)
from tests.fakes import T0

H = timedelta(hours=1)
LABELS = {"alertname": "BacklogHigh", "queue": "Billing", "severity": "critical"}


def silence(text: str, sid: str = "s1", start: int = 0, hours: int = 2) -> Silence:
    starts = T0 + start * H
    return Silence(sid, parse_matchers(text), starts, starts + hours * H, "ann", "deploy")


class TestMatcher:
    def test_regex_is_fully_anchored(self) -> None:
        """``=~"Bill"`` does not match ``Billing``; ``=~"Bill.*"`` does."""
        assert not parse_matcher('queue=~"Bill"').matches(LABELS)
        assert parse_matcher('queue=~"Bill.*"').matches(LABELS)
        assert not parse_matcher('queue=~"ill.*"').matches(LABELS)

    def test_alternation_is_anchored_as_a_whole(self) -> None:
        """``a|Billing`` matches only ``a`` or ``Billing`` as whole values."""
        assert parse_matcher('queue=~"a|Billing"').matches(LABELS)
        assert not parse_matcher('queue=~"a|Bill"').matches(LABELS)

    def test_missing_label_equals_empty_string(self) -> None:
        """``team=""`` matches an alert without ``team``; ``team!=""`` does not."""
        assert parse_matcher('team=""').matches(LABELS)
        assert not parse_matcher('team!=""').matches(LABELS)
        assert parse_matcher('team=~".*"').matches(LABELS)

    def test_negative_operators(self) -> None:
        """``!=`` and ``!~`` invert their positive forms."""
        assert parse_matcher("severity!=warning").matches(LABELS)
        assert not parse_matcher('queue!~"Bill.*"').matches(LABELS)

    def test_invalid_regex_is_rejected(self) -> None:
        """A regex that does not compile is a ValueError naming it."""
        with pytest.raises(ValueError, match="invalid regex"):
            Matcher("queue", "(", is_regex=True)

    def test_invalid_label_name_is_rejected(self) -> None:
        """Label names follow Prometheus' syntax."""
        with pytest.raises(ValueError, match="label name"):
            Matcher("1queue", "x")


class TestParseMatchers:
    def test_cli_form(self) -> None:
        """Space-separated matchers, quoted or not, become matchers in order."""
        parsed = parse_matchers('alertname=BacklogHigh queue=~"Bill.*"')
        assert parsed == (
            Matcher("alertname", "BacklogHigh"),
            Matcher("queue", "Bill.*", is_regex=True),
        )

    def test_braces_and_commas(self) -> None:
        """``{a="1", b!~"2"}`` is accepted too."""
        parsed = parse_matchers('{a="1", b!~"2"}')
        assert parsed == (Matcher("a", "1"), Matcher("b", "2", is_regex=True, is_equal=False))

    def test_quoted_values_keep_spaces_and_escapes(self) -> None:
        """Inside quotes, ``\\"`` is a quote and regex escapes such as ``\\d`` stay."""
        (parsed,) = parse_matchers(r'summary=~"queue \"L\d\" .*"')
        assert parsed.value == r'queue "L\d" .*'

    def test_rendering_round_trips(self) -> None:
        """``str`` of matchers parses back to the same matchers."""
        parsed = parse_matchers(r'a="x \"y\"" b!~"c\d+" c!=""')
        assert parse_matchers(describe(parsed)) == parsed

    @pytest.mark.parametrize("text", ["queue", "queue==x", "=x", "a=b,,c=d", 'a="open'])
    def test_malformed_matchers_are_rejected(self, text: str) -> None:
        """Missing operators, names or quotes are errors, not silent partial matches."""
        with pytest.raises(ValueError):
            parse_matchers(text)


class TestSilenceState:
    def test_pending_active_expired(self) -> None:
        """Pending before ``starts_at``, active until ``ends_at``, expired from then."""
        s = silence("queue=Billing", start=1)
        assert state(s, T0) is SilenceState.PENDING
        assert state(s, T0 + H) is SilenceState.ACTIVE
        assert state(s, T0 + 3 * H - timedelta(seconds=1)) is SilenceState.ACTIVE
        assert state(s, T0 + 3 * H) is SilenceState.EXPIRED

    def test_silenced_by_lists_active_matching_silences(self) -> None:
        """Only active silences whose matchers all match are returned, sorted by id."""
        silences = [
            silence('queue=~"Bill.*"', "b"),
            silence("severity=critical", "a"),
            silence("queue=Billing severity=warning", "c"),
            silence("queue=Billing", "later", start=1),
        ]
        assert silenced_by(LABELS, silences, T0) == ["a", "b"]
        assert silenced_by({"queue": "L1"}, silences, T0) == []

    def test_expire_ends_an_active_silence_now(self) -> None:
        """Expiring sets ``ends_at`` to now; a pending one also starts now, so never mutes."""
        active = expire(silence("queue=Billing"), T0 + H)
        assert (active.ends_at, state(active, T0 + H)) == (T0 + H, SilenceState.EXPIRED)
        pending = expire(silence("queue=Billing", start=5), T0)
        assert pending.starts_at == pending.ends_at == T0

    def test_api_form(self) -> None:
        """``to_api`` uses Alertmanager's field names and reports the state."""
        body = to_api(silence('queue=~"Bill.*"'), T0)
        assert body["matchers"] == [
            {"name": "queue", "value": "Bill.*", "isRegex": True, "isEqual": True}
        ]
        assert body["startsAt"] == "2016-03-21T12:00:00Z"
        assert body["status"] == {"state": "active"}


def new(**fields: Any) -> SilenceInput:
    body = {"matchers": ["queue=Billing"], "duration": "2h", "createdBy": "ann", "comment": "x"}
    return SilenceInput.model_validate({**body, **fields})


class TestSilenceInput:
    def test_api_and_string_matchers_are_accepted(self) -> None:
        """Matchers may be API objects, strings, or one CLI string."""
        api = new(matchers=[{"name": "queue", "value": "Bill.*", "isRegex": True}])
        text = new(matchers=['queue=~"Bill.*"'])
        cli = new(matchers='queue=~"Bill.*"')
        assert api.matchers == text.matchers == cli.matchers

    def test_defaults_start_now_and_duration_sets_the_end(self) -> None:
        """Without ``startsAt`` the silence starts at ``now`` and lasts ``duration``."""
        made = new().to_silence("id-1", T0)
        assert (made.id, made.starts_at, made.ends_at) == ("id-1", T0, T0 + 2 * H)

    def test_explicit_window(self) -> None:
        """``startsAt``/``endsAt`` are kept as given."""
        made = new(duration=None, startsAt="2016-03-21T13:00Z", endsAt="2016-03-21T14:00Z")
        assert state(made.to_silence("x", T0), T0) is SilenceState.PENDING

    @pytest.mark.parametrize(
        "fields",
        [
            {"matchers": []},
            {"matchers": ['team=""']},
            {"matchers": ['queue=~".*"']},
            {"duration": None},
            {"endsAt": "2016-03-21T14:00Z"},
            {"duration": None, "startsAt": "2016-03-21T14:00Z", "endsAt": "2016-03-21T13:00Z"},
            {"duration": None, "endsAt": "2016-03-21T14:00"},
            {"duration": "0s"},
            {"createdBy": ""},
            {"comment": ""},
            {"matchers": ["queue=~'('"]},
        ],
    )
    def test_invalid_input_is_rejected(self, fields: dict[str, Any]) -> None:
        """No matchers, match-everything matchers, bad windows and blank authors fail."""
        with pytest.raises(ValidationError):
            new(**fields)

    def test_a_silence_that_already_ended_is_refused(self) -> None:
        """``endsAt`` in the past is refused when the silence is created."""
        late = new(duration=None, endsAt="2016-03-21T11:00Z", startsAt="2016-03-21T10:00Z")
        with pytest.raises(ValueError, match="already ended"):
            late.to_silence("x", T0)
