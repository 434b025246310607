"""Jira's configuration: deployment, credentials, time zone, cost. Polls: ``cases/jira/``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from collectors.jira import JiraCollector
from config.loader import load_settings
from monitor.errors import ConfigError


def source(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "jira",
        "name": "jira",
        "base_url": "https://acme.atlassian.net",
        "email": "a@b.c",
        "token": "tok",
        "statuses": ["Waiting for support", "In Progress"],
        "queues": [{"name": "Billing", "jql": "project = SD"}],
        **extra,
    }


def load(data: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestJiraConfig:
    def test_cloud_is_basic_and_datacenter_is_bearer(self) -> None:
        """Cloud: Basic email:token; Data Center: the personal access token as Bearer."""
        pair = base64.b64encode(b"a@b.c:tok").decode()
        assert load(source()).auth_headers() == {"Authorization": f"Basic {pair}"}
        dc = load(source(deployment="datacenter", email=None))
        assert dc.auth_headers() == {"Authorization": "Bearer tok"}

    def test_cloud_needs_the_email(self) -> None:
        """A Cloud API token without its account's email is an error with its path."""
        with pytest.raises(ConfigError, match=r"sources -> 0: .*email"):
            load(source(email=None))

    def test_unknown_time_zone(self) -> None:
        """The API user's time zone must exist."""
        with pytest.raises(ConfigError, match=r"sources -> 0 -> time_zone"):
            load(source(time_zone="Mars/Olympus"))

    def test_jql_dates_are_the_minute_in_the_user_zone(self) -> None:
        """12:34:56 UTC is written 14:34 in Rome in summer: consecutive windows share it."""
        collector = JiraCollector(load(source(time_zone="Europe/Rome")))
        assert collector._when(datetime(2012, 7, 20, 12, 34, 56, tzinfo=UTC)) == "2012-07-20 14:34"
        collector.close()

    def test_cost_per_poll(self) -> None:
        """Per queue: statuses + unresolved + created + resolved + 4 for aging."""
        assert load(source()).poll_cost().requests == 2 + 3 + 4
        assert load(source(aging=False)).poll_cost().requests == 2 + 3
