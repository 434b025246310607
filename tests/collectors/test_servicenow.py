"""ServiceNow's configuration and its encoded queries. Polls: ``cases/servicenow/``."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from collectors.servicenow import ServiceNowCollector
from config.loader import load_settings
from monitor.errors import ConfigError, MappingError


def source(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "servicenow",
        "name": "sn",
        "base_url": "https://acme.service-now.com",
        "username": "u",
        "password": "p",
        "assignment_groups": ["Service Desk"],
        **extra,
    }


def load(data: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestServiceNowConfig:
    def test_six_requests_whatever_the_groups(self) -> None:
        """The Aggregate API groups on the instance: the cost does not grow with queues."""
        many = load(source(assignment_groups=[f"G{i}" for i in range(500)]))
        assert many.poll_cost().requests == 6

    def test_password_needs_its_username(self) -> None:
        """Basic authentication without a username is a located error."""
        with pytest.raises(ConfigError, match=r"sources -> 0: .*username"):
            load(source(username=None))

    def test_not_open_negates_each_clause(self) -> None:
        """Resolved tickets are those the open query does not select: an OR of negations."""
        assert (
            ServiceNowCollector._not("active=true^stateNOT IN6,7,8")
            == "active!=true^ORstateIN6,7,8"
        )
        for clause in ("priority<3", "priority>=3", "active!=true"):
            with pytest.raises(MappingError):
                ServiceNowCollector._not(clause)
