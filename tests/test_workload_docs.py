"""The configuration examples of docs/workload.md load as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from alerting.rules import expand_tiers
from config.loader import load_settings

DOC = (Path(__file__).parents[1] / "docs" / "workload.md").read_text(encoding="utf-8")
RECEIVERS = """
receivers:
  - {kind: webhook, name: team, url: "https://example.com/team"}
  - {kind: webhook, name: supervisor, url: "https://example.com/supervisor"}
"""


class TestWorkloadDocs:
    def test_examples_load_together(self) -> None:
        """The source and rule examples form a valid configuration; tiers expand."""
        blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
        assert len(blocks) == 2
        settings = load_settings(text="\n".join([*blocks, RECEIVERS]))
        workload = settings.sources[0].workload
        assert workload is not None and workload.top_categories == 5
        names = [r.name for r in expand_tiers(settings.rules)]
        assert "Untouched_tier2" in names and "Misroutes" in names
        assert yaml.safe_load(blocks[1])["rules"][0]["kind"] == "wip_limit"
