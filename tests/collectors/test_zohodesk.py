"""Zoho Desk's configuration: regions, credentials, and the cost of a poll against the plan.

What a poll reads and how it copes with the store is in ``cases/zohodesk/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from monitor.errors import ConfigError
from tests.collectors.stores.zohodesk import departments


def source(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "zohodesk",
        "name": "zoho",
        "org_id": "60001234567",
        "client_id": "1000.X",
        "client_secret": "s",
        "refresh_token": "r",
        "departments": departments(20),
        **extra,
    }


def load(*sources: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": list(sources)}))


class TestZohoDeskConfig:
    @pytest.mark.parametrize(
        ("region", "api", "accounts"),
        [
            ("com", "https://desk.zoho.com/api/v1", "https://accounts.zoho.com"),
            ("eu", "https://desk.zoho.eu/api/v1", "https://accounts.zoho.eu"),
            ("com.au", "https://desk.zoho.com.au/api/v1", "https://accounts.zoho.com.au"),
            ("ca", "https://desk.zohocloud.ca/api/v1", "https://accounts.zohocloud.ca"),
        ],
    )
    def test_region_picks_the_data_centre(self, region: str, api: str, accounts: str) -> None:
        """Each region has its own API root and OAuth server (Canada on zohocloud.ca)."""
        config = load(source(region=region)).sources[0]
        assert (config.api_root(), config.accounts_root()) == (api, accounts)

    def test_unknown_region_is_an_error_with_its_path(self) -> None:
        """A data centre Zoho does not have is named with its path."""
        with pytest.raises(ConfigError, match=r"sources -> 0 -> region"):
            load(source(region="mars"))

    def test_credentials_from_file_and_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """client_secret_file and refresh_token_env are read at start-up."""
        secret = tmp_path / "secret"
        secret.write_text("from-file\n", encoding="utf-8")
        monkeypatch.setenv("ZOHO_RT", "from-env")
        config = load(
            source(
                client_secret=None,
                client_secret_file=str(secret),
                refresh_token=None,
                refresh_token_env="ZOHO_RT",
            )
        ).sources[0]
        assert config.client_secret.get_secret_value() == "from-file"
        assert config.refresh_token.get_secret_value() == "from-env"

    def test_missing_environment_variable_is_an_error(self) -> None:
        """A *_env naming an unset variable stops the start, naming the variable only."""
        with pytest.raises(ConfigError, match="ZOHO_UNSET_VARIABLE"):
            load(source(refresh_token=None, refresh_token_env="ZOHO_UNSET_VARIABLE"))

    def test_cost_per_poll(self) -> None:
        """20 departments: 6 calls each plus one closure search; counts 1 credit, searches 3."""
        cost = load(source()).sources[0].poll_cost()
        assert (cost.requests, cost.credits) == (121, 100 * 1 + 21 * 3)

    def test_over_the_daily_credits_is_an_error_with_its_path(self) -> None:
        """163 credits every 5 minutes is 46,944 a day: over half of a 50,000 plan."""
        with pytest.raises(ConfigError, match=r"sources -> 0: .*credits per day.*46944"):
            load(source(budget={"daily_credits": 50000, "share": 0.5}))

    def test_close_to_the_budget_is_a_warning(self) -> None:
        """Within the share but above warn_at (80 %): loads, with a warning."""
        config = load(source(interval="5m", budget={"daily_credits": 100000, "share": 0.5}))
        warnings = config.sources[0].budget_warnings()
        assert len(warnings) == 1 and "credits per day" in warnings[0]

    def test_within_the_budget_is_quiet(self) -> None:
        """A poll every 15 minutes uses 15,648 of 50,000: no warning."""
        config = load(source(interval="15m", budget={"daily_credits": 100000}))
        assert config.sources[0].budget_warnings() == []
