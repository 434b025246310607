"""``backlog-monitor check-config``, run as a command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[1]
THREE_MISTAKES = ROOT / "config" / "examples" / "three-mistakes.yaml"

GOOD = """\
store:
  url: "sqlite:///history.db"
sources:
  - kind: sql
    name: helpdesk
    url: "sqlite:///tickets.db"
    mapping:
      table: tickets
      queue: group_name
      status: status
      created_at: created_at
      open_statuses: [new, open, pending]
rules:
  - name: BacklogHighAvg2h
    metric: open_tickets
    match: {status: pending}
    reduce: avg
    window: 2h
    threshold: 500
receivers:
  - kind: webhook
    name: ops
    url: "https://alerts.example.com/hook"
"""


def check_config(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``backlog-monitor check-config`` with only the ``BACKLOG_MONITOR_`` variables given."""
    return run_cli("check-config", *args, cwd=ROOT, **env)


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


class TestCheckConfig:
    def test_three_mistakes_prints_three_errors_and_exits_2(self) -> None:
        """The three-mistakes example prints exactly its three errors, with paths, and exits 2."""
        result = check_config("--config", "config/examples/three-mistakes.yaml")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == "Detected 3 errors in config/examples/three-mistakes.yaml:"
        errors = lines[1:]
        assert len(errors) == 3
        assert [e.strip().split(": ", 1)[0] for e in errors] == [
            "sources -> 0 -> interval",
            "rules -> 0 -> severty",
            "receivers -> 0 -> url",
        ]
        assert "invalid duration '5x'" in errors[0]
        assert errors[1].endswith("unknown key")
        assert "valid URL" in errors[2]
        assert result.stdout == ""

    def test_no_traceback_on_errors(self) -> None:
        """A configuration error is reported as text, never as a Python traceback."""
        result = check_config("--config", str(THREE_MISTAKES))
        assert "Traceback" not in result.stderr

    def test_good_config_exits_0(self, good_config: Path) -> None:
        """A valid configuration is confirmed with counts on stdout and exit status 0."""
        result = check_config("--config", str(good_config))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == ("configuration OK: 1 source(s), 1 rule(s), 1 receiver(s)")
        assert result.stderr == ""

    def test_config_from_environment(self, good_config: Path) -> None:
        """BACKLOG_MONITOR_CONFIG names the file when --config is not given."""
        result = check_config(BACKLOG_MONITOR_CONFIG=str(good_config))
        assert result.returncode == 0, result.stderr

    def test_missing_file_exits_2(self, tmp_path: Path) -> None:
        """A configuration file that does not exist is a configuration error (exit 2)."""
        result = check_config("--config", str(tmp_path / "absent.yaml"))
        assert result.returncode == 2
        assert "cannot read" in result.stderr

    def test_unknown_environment_variable_exits_2(self, good_config: Path) -> None:
        """A misspelt BACKLOG_MONITOR_ variable is reported and fails the check."""
        result = check_config("--config", str(good_config), BACKLOG_MONITOR_STORE_URL="x")
        assert result.returncode == 2
        assert "BACKLOG_MONITOR_STORE_URL: unknown setting 'store_url'" in result.stderr

    def test_malformed_json_variable_exits_2(self, good_config: Path) -> None:
        """A list variable that is not JSON is a configuration error, not a crash."""
        result = check_config("--config", str(good_config), BACKLOG_MONITOR_SOURCES="[{")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "environment:" in result.stderr
