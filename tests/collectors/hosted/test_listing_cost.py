"""The configuration's cost of a poll counts every page of a changed-since listing, so it
is an upper bound at the configured peak rate (the benchmark
``benchmarks/collectors/http_poll.py`` checks it against requests counted by the fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.freshdesk import FreshdeskConfig
from collectors.hosted.config import listing_pages
from collectors.zohodesk import ZohoDeskConfig


@pytest.mark.parametrize(
    ("changes", "restart", "pages"),
    [
        (0, None, 1),  # one empty page says there is nothing
        (99, None, 1),
        (100, None, 2),  # a full page, then an empty one
        (1_399.2, None, 15),  # 1,400 tickets: 14 full pages and a short one
        (999, 1_000, 10),
        (1_000, 1_000, 12),  # a restart after 1,000: one page more
        (2_500, 1_000, 28),
    ],
)
def test_listing_pages(changes: float, restart: int | None, pages: int) -> None:
    assert listing_pages(changes, 100, restart) == pages


def freshdesk(groups: int, **extra: Any) -> FreshdeskConfig:
    return FreshdeskConfig.model_validate(
        {
            "kind": "freshdesk",
            "name": "fd",
            "domain": "acme",
            "api_key": "k",
            "groups": [{"id": i + 1, "name": f"g{i}"} for i in range(groups)],
            "budget": {"requests_per_minute": 100_000},
            **extra,
        }
    )


def zoho(departments: int, **extra: Any) -> ZohoDeskConfig:
    return ZohoDeskConfig.model_validate(
        {
            "kind": "zohodesk",
            "name": "zd",
            "org_id": "1",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "departments": [{"id": str(i + 1), "name": f"d{i}"} for i in range(departments)],
            **extra,
        }
    )


class TestPollCost:
    def test_freshdesk_counts_the_listing_pages_at_the_peak_rate(self) -> None:
        """500 groups x 2 open statuses = 1,000 searches; 280 updates a minute over a
        5-minute interval = 1,400 tickets = 15 listing pages of 2 credits."""
        config = freshdesk(500, open_statuses={2: "open", 3: "pending"})
        assert config.poll_cost().requests == 1_001  # the default 10 a minute: one page
        busy = freshdesk(500, open_statuses={2: "open", 3: "pending"}, peak_changes_per_minute=280)
        cost = busy.poll_cost()
        assert (cost.requests, cost.credits) == (1_015, 1_030)

    def test_zoho_counts_the_closure_search_pages_and_restarts(self) -> None:
        """500 departments with aging: 2,500 counts, 500 oldest-ticket searches; 250
        closures a minute x 5 min = 1,250: 13 pages and one restart."""
        assert zoho(500).poll_cost().requests == 2_500 + 500 + 1
        cost = zoho(500, peak_changes_per_minute=250).poll_cost()
        assert cost.requests == 2_500 + 500 + 14
        assert cost.credits == 2_500 * 1 + (500 + 14) * 3

    def test_a_longer_interval_reads_more_pages(self) -> None:
        short = freshdesk(1, peak_changes_per_minute=100, interval="1m").poll_cost()
        long = freshdesk(1, peak_changes_per_minute=100, interval="30m").poll_cost()
        assert long.requests - short.requests == 3_000 // 100 - 100 // 100
