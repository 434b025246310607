"""Help Scout's configuration: the documented example, and a poll's cost at start-up."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors.helpscout import HelpScoutConfig
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "examples" / "helpscout.yaml"
DOC = ROOT / "docs" / "hosted" / "helpscout.md"
SECRETS = {"HELPSCOUT_CLIENT_SECRET": "PLANTED-cli-hs-secret"}


def check(tmp_path: Path, *replace: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return run_cli("check-config", "--config", path, cwd=ROOT, **SECRETS)


def mailboxes(n: int) -> list[dict[str, object]]:
    return [{"id": 1 + i, "name": f"m{i}"} for i in range(n)]


class TestHelpScoutConfig:
    def test_the_documented_example_is_the_file(self) -> None:
        """docs/hosted/helpscout.md shows config/examples/helpscout.yaml as it is."""
        blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
        assert EXAMPLE.read_text(encoding="utf-8") in blocks

    def test_the_example_is_valid_and_quiet(self, tmp_path: Path) -> None:
        """16 requests every 5 minutes of the 100 a minute allowed: no warning."""
        result = check(tmp_path)
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr
        assert "PLANTED" not in result.stdout + result.stderr

    def test_over_the_plan_exits_2_naming_the_source(self, tmp_path: Path) -> None:
        """Every 5 s: 192 requests a minute, over the 100 allowed: error with its path."""
        result = check(tmp_path, ("interval: 5m", "interval: 5s"))
        assert result.returncode == 2
        assert "sources -> 0: requests per minute" in result.stderr
        assert "PLANTED" not in result.stdout + result.stderr

    def test_close_to_the_plan_warns_and_passes(self, tmp_path: Path) -> None:
        """Every 10 s: 96 requests a minute of 100, above 80 %: a warning, exit 0."""
        result = check(tmp_path, ("interval: 5m", "interval: 10s"))
        assert result.returncode == 0, result.stderr
        assert "warning: sources -> 0 -> interval: polling uses 96" in result.stderr

    def test_a_poll_larger_than_a_minute_needs_a_long_max_wait(self) -> None:
        """21 mailboxes with aging are 106 requests, over 100 a minute: max_wait under
        60 s would fail every poll, so it is a configuration error."""
        base = {"kind": "helpscout", "name": "hs", "client_id": "x", "client_secret": "s"}
        HelpScoutConfig.model_validate({**base, "mailboxes": mailboxes(21), "interval": "10m"})
        with pytest.raises(ValidationError, match="106 requests, more than the 100"):
            HelpScoutConfig.model_validate(
                {**base, "mailboxes": mailboxes(21), "interval": "10m", "max_wait": "30s"}
            )

    def test_cost_per_poll(self) -> None:
        """The figures docs/hosted/helpscout.md gives: 20 and 500 mailboxes."""
        base = {"kind": "helpscout", "name": "hs", "client_id": "x", "client_secret": "s"}
        cost = {
            (n, aging): HelpScoutConfig.model_validate(
                {
                    **base,
                    "mailboxes": mailboxes(n),
                    "aging": aging,
                    "interval": "1h",
                    "budget": {"requests_per_minute": 200, "share": 1.0},
                }
            )
            .poll_cost()
            .requests
            for n in (20, 500)
            for aging in (True, False)
        }
        assert cost == {(20, True): 101, (20, False): 21, (500, True): 2501, (500, False): 501}
