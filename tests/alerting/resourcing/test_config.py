"""Which queues a resourcing entry plans."""

from __future__ import annotations

from typing import Any

from alerting.resourcing.config import ResourcingConfig


def entry(**match: Any) -> ResourcingConfig:
    return ResourcingConfig.model_validate(
        {
            "name": "billing",
            "match": match,
            "target": 500,
            "agents": 4,
            "throughput_per_agent_hour": 8,
        }
    )


class TestSelection:
    def test_matches_source_and_queue(self) -> None:
        """An entry plans the queues its match names, every queue when it names none."""
        assert entry(source="helpdesk", queue="Billing").selects("helpdesk", "Billing")
        assert not entry(source="helpdesk", queue="Billing").selects("helpdesk", "L2")
        assert entry().selects("other", "L2")

    def test_source_total_only_by_name(self) -> None:
        """The source's total is planned only by an entry matching queue __total__."""
        assert not entry().selects("helpdesk", "__total__")
        assert not entry(source="helpdesk").selects("helpdesk", "__total__")
        assert entry(source="helpdesk", queue="__total__").selects("helpdesk", "__total__")
