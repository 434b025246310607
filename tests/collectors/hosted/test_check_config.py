"""``check-config`` on hosted sources: the cost of a poll against the plan, as a command."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "examples" / "zohodesk.yaml"
SECRETS = {"ZOHO_CLIENT_SECRET": "PLANTED-cli-secret", "ZOHO_REFRESH_TOKEN": "PLANTED-cli-rt"}


def check(
    tmp_path: Path, replace: tuple[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return run_cli("check-config", "--config", path, cwd=ROOT, **SECRETS)


class TestHostedBudgetAtCheckConfig:
    def test_the_documented_example_is_valid_and_quiet(self, tmp_path: Path) -> None:
        """The README's Zoho Desk example loads with no warning."""
        result = check(tmp_path)
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr
        assert "PLANTED" not in result.stdout + result.stderr

    def test_over_the_plan_exits_2_naming_the_source(self, tmp_path: Path) -> None:
        """Polling every 10 s would spend 75,000+ credits a day: error with its path."""
        result = check(tmp_path, ("interval: 5m", "interval: 10s"))
        assert result.returncode == 2
        assert "sources -> 0: credits per day" in result.stderr
        assert "PLANTED" not in result.stdout + result.stderr

    def test_close_to_the_plan_warns_and_passes(self, tmp_path: Path) -> None:
        """Every 100 s: 23,328 credits a day of 25,000, above 80 %: a warning, exit 0."""
        result = check(tmp_path, ("interval: 5m", "interval: 100s"))
        assert result.returncode == 0, result.stderr
        assert "warning: sources -> 0 -> interval: polling uses" in result.stderr
