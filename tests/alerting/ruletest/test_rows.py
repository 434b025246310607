"""Input series with our metric names become the snapshot rows the rules read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.ruletest import InputSeries, build_rows
from alerting.ruletest.runner import EPOCH

STEP = timedelta(minutes=1)
OPEN = 'backlog_open_tickets{{source="hd",queue="Billing",status="{s}",priority="{p}"}}'


def series(**values: str) -> list[InputSeries]:
    """Input series keyed by a short name for the metric."""
    names = {
        "pending": OPEN.format(s="pending", p="3"),
        "new": OPEN.format(s="new", p="1"),
        "oldest": 'backlog_oldest_ticket_age_seconds{source="hd",queue="Billing"}',
        "older7": 'backlog_open_tickets_older_than{source="hd",queue="Billing",age="7d"}',
        "created": 'backlog_tickets_created_total{source="hd",queue="Billing"}',
        "resolved": 'backlog_tickets_resolved_total{source="hd",queue="Billing"}',
        "up": 'backlog_collector_up{source="hd"}',
    }
    return [InputSeries(series=names[k], values=v) for k, v in values.items()]


class TestBuildRows:
    def test_one_row_per_step_with_breakdown(self) -> None:
        """Each step's samples of a queue make one row; open_total sums the breakdown."""
        built = build_rows(series(pending="5 6", new="1 2"), EPOCH, STEP)
        rows = built.rows[("hd", "Billing")]
        assert [r["ts"] for r in rows] == [EPOCH, EPOCH + STEP]
        assert rows[1]["open_breakdown"] == [["new", "1", 2.0], ["pending", "3", 6.0]]
        assert rows[1]["open_total"] == 8

    def test_gauges_fill_their_columns(self) -> None:
        """Oldest age and older-than buckets land in oldest_age_s and older_than."""
        row = build_rows(series(oldest="3600", older7="4"), EPOCH, STEP).rows[("hd", "Billing")][0]
        assert row["oldest_age_s"] == 3600
        assert row["older_than"] == {"7d": 4}

    def test_counters_give_increase_per_step(self) -> None:
        """created/resolved are the counter's increase since the previous sample."""
        rows = build_rows(series(created="10 12 _ 15 3"), EPOCH, STEP).rows[("hd", "Billing")]
        assert [r["created"] for r in rows] == [None, 2, 3, 3]  # 3 after the drop: a reset

    def test_gap_and_stale_store_no_row(self) -> None:
        """_ and stale steps have no row (no snapshot that step)."""
        rows = build_rows(series(pending="1 _ stale 4"), EPOCH, STEP).rows[("hd", "Billing")]
        assert [r["ts"] for r in rows] == [EPOCH, EPOCH + 3 * STEP]

    def test_collector_down_drops_rows_and_marks_source(self) -> None:
        """While the latest collector_up sample is 0, the source is down and has no rows."""
        built = build_rows(series(pending="1x4", up="1 0 _ 1"), EPOCH, STEP)
        rows = built.rows[("hd", "Billing")]
        assert [r["ts"] for r in rows] == [EPOCH, EPOCH + 3 * STEP, EPOCH + 4 * STEP]
        assert [bool(d) for d in built.down] == [False, True, True, False, False]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('backlog_open_tickets{queue="a"}', "source and queue"),
            ('backlog_whatever{source="a",queue="b"}', "unknown metric"),
            ('backlog_open_tickets_older_than{source="a",queue="b"}', "age label"),
        ],
    )
    def test_rejects_bad_series(self, text: str, message: str) -> None:
        """Unknown metrics and missing labels are errors that name the series."""
        with pytest.raises(ValueError, match=message):
            build_rows([InputSeries(series=text, values="1")], EPOCH, STEP)
