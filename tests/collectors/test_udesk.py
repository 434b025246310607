"""Udesk's configuration example, the cost check and the budget shared per account."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors.udesk import UdeskCollector, UdeskConfig
from config.loader import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "udesk.yaml"
DOC = ROOT / "docs" / "hosted" / "udesk.md"


def config(**changes: object) -> UdeskConfig:
    base: dict[str, object] = {
        "kind": "udesk",
        "name": "u",
        "base_url": "http://127.0.0.1:9",
        "email": "a@example.cn",
        "password": "PLANTED-pw",
        "queues": [{"name": "q", "filters": {"open": 1, "solving": 2}}],
    }
    return UdeskConfig.model_validate({**base, **changes})


class TestUdeskConfig:
    def test_the_documented_example_is_the_file_and_loads(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """docs/hosted/udesk.md shows the example file as it is, and it loads."""
        text = EXAMPLE.read_text(encoding="utf-8")
        blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
        assert text in blocks
        monkeypatch.setenv("UDESK_PASSWORD", "PLANTED-pw")
        settings = load_settings(text=text)
        source = settings.sources[0]
        assert isinstance(source, UdeskConfig)
        assert source.poll_cost().requests == 4
        assert source.budget_warnings() == []

    def test_over_the_minute_budget_is_an_error(self) -> None:
        """16 queues of 2 filters every 30 s: 64 a minute, over the 30 allowed."""
        queues = [{"name": f"q{i}", "filters": {"open": i, "solving": 100 + i}} for i in range(16)]
        with pytest.raises(ValidationError, match="requests per minute"):
            config(queues=queues, interval="30s")

    def test_a_poll_over_a_minute_needs_a_long_max_wait(self) -> None:
        """20 queues are 40 counts, over 30 a minute: max_wait 30s would fail each poll."""
        queues = [{"name": f"q{i}", "filters": {"open": i, "solving": 100 + i}} for i in range(20)]
        config(queues=queues)
        with pytest.raises(ValidationError, match="40 requests, more than the 30"):
            config(queues=queues, max_wait="30s")


class TestSharedBudget:
    def test_sources_of_one_account_share_one_budget(self) -> None:
        """Two sources, same account: what one sends, the other cannot."""
        now = [1000.0]
        url = "http://127.0.0.1:9/shared-budget-test"
        first = UdeskCollector(config(name="a", base_url=url), clock=lambda: now[0])
        second = UdeskCollector(config(name="b", base_url=url), clock=lambda: now[0])
        other = UdeskCollector(
            config(name="c", base_url=url, email="b@example.cn"), clock=lambda: now[0]
        )
        assert first.client.budget is second.client.budget
        assert other.client.budget is not first.client.budget
        for _ in range(30):
            first.client.budget.spend()
        assert second.client.budget.wait() == pytest.approx(60.0)
        assert other.client.budget.wait() == 0.0
        for collector in (first, second, other):
            collector.close()
