"""Zendesk's configuration: account, credentials, cost per poll. Polls: ``cases/zendesk/``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from monitor.errors import ConfigError
from tests.collectors.stores.zendesk import groups


def source(**extra: Any) -> dict[str, Any]:
    base = {"kind": "zendesk", "name": "zd", "subdomain": "acme", "email": "a@b.c"}
    return {**base, "token": "t0k", "groups": groups(20), **extra}


def load(data: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestZendeskConfig:
    def test_api_token_is_basic_email_slash_token(self) -> None:
        """``email/token:TOKEN``, base64, as Zendesk documents API-token authentication."""
        config = load(source())
        expected = base64.b64encode(b"a@b.c/token:t0k").decode()
        assert config.auth_headers() == {"Authorization": f"Basic {expected}"}
        assert config.api_root() == "https://acme.zendesk.com"

    def test_oauth_token_is_bearer(self) -> None:
        """An OAuth access token instead of an API token."""
        config = load(source(token=None, oauth_token="oa"))
        assert config.auth_headers() == {"Authorization": "Bearer oa"}

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"token": None}, "exactly one of token"),
            ({"oauth_token": "x"}, "exactly one of token"),
            ({"email": None}, "needs the email"),
            ({"base_url": "https://proxy"}, "exactly one of subdomain and base_url"),
        ],
    )
    def test_credential_mistakes_name_the_source(self, extra: dict[str, Any], message: str) -> None:
        """Each mistake is one error with the source's path."""
        with pytest.raises(ConfigError, match=rf"sources -> 0: .*{message}"):
            load(source(**extra))

    def test_cost_per_poll_against_the_plan(self) -> None:
        """20 groups x 10 counts every 5 minutes = 40/min: fine on Team (200, half ours);
        every 30 s it is 400/min, over: an error naming the source."""
        assert load(source()).poll_cost().requests == 200
        load(source(budget={"requests_per_minute": 200}))
        with pytest.raises(ConfigError, match=r"sources -> 0: requests per minute"):
            load(source(interval="30s", budget={"requests_per_minute": 200}))
