"""The README's commands and configuration examples stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from config.loader import load_settings
from config.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


HELPDESK_EXAMPLES = re.findall(r"```yaml\n(.*?)```", _section("Supported help desks"), re.S)


class TestReadme:
    def test_starts_with_the_two_commands(self) -> None:
        """The first code block holds the demo and the test command, in that order."""
        first = re.search(r"```sh\n(.*?)```", README, re.S)
        assert first is not None
        lines = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
        assert lines[:2] == ["./dev.sh demo", "./dev.sh test"]

    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run calls ./dev.sh test."""
        ci = (Path(__file__).parents[1] / ".ci" / "run").read_text(encoding="utf-8")
        assert "./dev.sh test" in ci

    def test_every_preset_has_an_example(self) -> None:
        """Each supported help desk has a configuration example."""
        presets = {
            yaml.safe_load(text)["sources"][0]["mapping"]["preset"] for text in HELPDESK_EXAMPLES
        }
        assert presets == {"osticket", "zammad", "glpi", "znuny", "rt"}

    @pytest.mark.parametrize("text", HELPDESK_EXAMPLES, ids=lambda t: t.splitlines()[0])
    def test_helpdesk_example_loads(self, text: str) -> None:
        """The example is a valid configuration and its preset fills the mapping."""
        settings: Settings = load_settings(text=text)
        mapping = settings.sources[0].mapping
        assert mapping.preset is not None
        assert mapping.table and mapping.queue and mapping.created_at
