"""GitLab's configuration and cost. Polls against the fake: ``cases/gitlab/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from monitor.errors import ConfigError
from tests.processes import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "gitlab.yaml"


def source(**extra: Any) -> dict[str, Any]:
    base = {"kind": "gitlab", "name": "gl", "project": "acme/support", "token": "glpat-x"}
    return {**base, "queues": [{"name": "bugs", "label": "bug"}], **extra}


def load(data: dict[str, Any]) -> Any:
    return load_settings(text=yaml.safe_dump({"sources": [data]})).sources[0]


class TestGitLabConfig:
    def test_token_headers_and_scope_paths(self) -> None:
        """PRIVATE-TOKEN on REST, Bearer on GraphQL; full paths URL-encoded as ids."""
        config = load(source())
        assert config.headers(graphql=False) == {"PRIVATE-TOKEN": "glpat-x"}
        assert config.headers(graphql=True) == {"Authorization": "Bearer glpat-x"}
        assert config.rest_scope() == "/api/v4/projects/acme%2Fsupport"
        group = load(source(project=None, group="acme/sub"))
        assert group.rest_scope() == "/api/v4/groups/acme%2Fsub"

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"token": None}, "one of token and token_file is required"),
            ({"group": "acme"}, "exactly one of project and group"),
            ({"project": "acme/../x y"}, "project"),
            ({"queues": [{"name": "q", "label": "a,b"}]}, "label"),
        ],
    )
    def test_mistakes_name_the_source(self, extra: dict[str, Any], message: str) -> None:
        with pytest.raises(ConfigError, match=rf"sources -> 0.*{message}"):
            load(source(**extra))

    def test_cost_per_poll(self) -> None:
        """6 REST calls per label with aging, 2 without, plus one GraphQL request per
        ``graphql_batch`` labels: 20 labels = 121; 500 = 3,010; 500 without aging 1,010."""
        twenty = [{"name": f"q{i}", "label": f"l{i}"} for i in range(20)]
        many = [{"name": f"q{i}", "label": f"l{i}"} for i in range(500)]
        assert load(source(queues=twenty)).poll_cost().requests == 121
        assert load(source(queues=many)).poll_cost().requests == 3010
        assert load(source(queues=many, aging=False)).poll_cost().requests == 1010

    def test_check_config_on_the_example(self, tmp_path: Path) -> None:
        """The documented example is valid and quiet; polling it every second would use
        1,140 of the 200 requests a minute it allows itself: exit 2 naming the source."""
        text = EXAMPLE.read_text(encoding="utf-8")
        root = EXAMPLE.parents[2]
        for interval, code in (("5m", 0), ("1s", 2)):
            path = tmp_path / f"config-{interval}.yaml"
            path.write_text(text.replace("interval: 5m", f"interval: {interval}"), "utf-8")
            result = run_cli("check-config", "--config", path, cwd=root, GITLAB_TOKEN="PLANTED-gl")
            assert result.returncode == code, result.stderr
            assert "PLANTED" not in result.stdout + result.stderr
            if code:
                assert "sources -> 0: requests per minute" in result.stderr
            else:
                assert "warning" not in result.stderr
