"""The configuration examples of docs/workload.md load as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alerting.rules import expand_tiers
from config.loader import load_settings
from monitor.errors import ConfigError

DOC = (Path(__file__).parents[1] / "docs" / "workload.md").read_text(encoding="utf-8")
RECEIVERS = """
receivers:
  - {kind: webhook, name: team, url: "https://example.com/team"}
  - {kind: webhook, name: supervisor, url: "https://example.com/supervisor"}
  - {kind: slack, name: chat, url: "https://hooks.slack.com/services/T0/B0/x"}
"""


class TestWorkloadDocs:
    def test_examples_load_together(self, tmp_path: Path) -> None:
        """The source and rule examples form a valid configuration; tiers expand."""
        secret = tmp_path / "smtp"
        secret.write_text("s3cret", encoding="utf-8")
        blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
        assert len(blocks) == 4
        report = blocks[3].replace("/run/secrets/smtp", str(secret))
        settings = load_settings(text="\n".join([blocks[0], blocks[1], report, RECEIVERS]))
        assert settings.report.email is not None and settings.report.webhooks == ("team", "chat")
        assert settings.report.link == "https://reports.example.com/backlog/latest.html"
        workload = settings.sources[0].workload
        assert workload is not None and workload.top_categories == 5
        names = [r.name for r in expand_tiers(settings.rules)]
        assert "Untouched_tier2" in names and "Misroutes" in names
        assert yaml.safe_load(blocks[1])["rules"][0]["kind"] == "wip_limit"

    def test_first_assignment_example_loads_and_needs_its_source(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The Jira example with the first-assignment rule is valid (4 hours in seconds);
        the same rule over the SQL example's source is valid too (it maps
        ``first_assigned_at``), and refused at the rule's measure once the mapping
        does not record the figure."""
        monkeypatch.setenv("JIRA_TOKEN", "t")
        blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
        settings = load_settings(text=blocks[2])
        assert settings.sources[0].workload.routing
        assert settings.rules[0].threshold == 4 * 3600
        rules = "rules:" + blocks[2].split("rules:")[1].replace("servicedesk", "servicenow")
        sql = load_settings(text="\n".join([blocks[0], rules]))
        assert sql.sources[0].mapping.first_assigned_at is not None
        without = re.sub(r"      first_assigned_at: >-\n(        .*\n)+", "", blocks[0])
        assert "first_assigned_at" not in without
        with pytest.raises(ConfigError) as err:
            load_settings(text="\n".join([without, rules]))
        assert [p for p, _ in err.value.problems] == ["rules -> 0 -> measure"]
