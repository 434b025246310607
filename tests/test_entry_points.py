"""``python -m monitor``, which the tests run, is the installed ``backlog-monitor`` command."""

from __future__ import annotations

import tomllib
from pathlib import Path

import monitor.__main__
import monitor.cli
from tests.processes import run_cli

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class TestEntryPoints:
    def test_console_script_and_module_run_the_same_function(self) -> None:
        """pyproject's backlog-monitor script and python -m monitor both call monitor.cli:main."""
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        assert project["scripts"] == {"backlog-monitor": "monitor.cli:main"}
        assert monitor.__main__.main is monitor.cli.main

    def test_module_names_itself_backlog_monitor(self) -> None:
        """python -m monitor --help prints the command's own name, not the module's."""
        done = run_cli("--help")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Usage: backlog-monitor ")
