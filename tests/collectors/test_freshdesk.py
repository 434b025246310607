"""Freshdesk's configuration: domain, API key, cost. Polls: ``cases/freshdesk/``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from monitor.errors import ConfigError
from tests.collectors.stores.freshdesk import groups


def source(**extra: Any) -> dict[str, Any]:
    return {"kind": "freshdesk", "name": "fd", "domain": "acme", "api_key": "k3y", **extra}


def load(data: dict[str, Any]) -> Any:
    data.setdefault("groups", groups(20))
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestFreshdeskConfig:
    def test_api_key_is_the_basic_user_with_password_x(self) -> None:
        """As Freshdesk documents it; the domain gives the API root."""
        config = load(source())
        assert config.auth_headers() == {
            "Authorization": "Basic " + base64.b64encode(b"k3y:X").decode()
        }
        assert config.api_root() == "https://acme.freshdesk.com"

    def test_missing_key_is_an_error_with_its_path(self) -> None:
        """No api_key, api_key_file or api_key_env: one located error."""
        with pytest.raises(ConfigError, match=r"sources -> 0: one of api_key"):
            load(source(api_key=None))

    def test_cost_per_poll(self) -> None:
        """Per group one search per open status, plus the listing (at least one page)."""
        assert load(source()).poll_cost().requests == 20 * 2 + 1
        custom = load(source(open_statuses={2: "Open", 3: "Pending", 6: "Waiting"}))
        assert custom.poll_cost().requests == 20 * 3 + 1
